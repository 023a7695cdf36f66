"""Chapter 6 (the book's chapters 6 and 7) reference: what Python makes of
the data files, as FNV-1a 64-bit hashes of whole outputs, so the C tests can
check every record without a big fixture.

Usage (from tests/reference):
    /usr/bin/python3 ch06_data_reference.py DATA_DIR ../fixtures/ch06_data.txt

Standard library only. Python's csv module reads the SMS collection exactly
as the book's pd.read_csv(sep="\\t", header=None) does here (5572 records:
4825 ham, 747 spam), and pandas' to_csv writes with csv.writer, so:
  sms.records, sms.ham, sms.spam   the counts
  sms.fnv      FNV-1a 64 of "label\\ttext\\n" over every record, in file order
  sms.csv_fnv  FNV-1a 64 of csv.writer(lineterminator="\\n") writing the header
               "Label,Text" and every record as (0 for ham / 1 for spam, text):
               what to_csv(index=None) writes
  instruct.entries, instruct.fnv   the entry count, and FNV-1a 64 of
               json.dumps(entries with "model_response" = their "output",
               indent=4): the file of the book's section 7.7
Lines are "key value".
"""

import csv
import io
import json
import os
import sys


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def main(data_dir, out_path):
    with open(os.path.join(data_dir, "sms_spam", "SMSSpamCollection"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert all(len(r) == 2 for r in rows)
    lines = []
    lines.append("sms.records %d" % len(rows))
    lines.append("sms.ham %d" % sum(r[0] == "ham" for r in rows))
    lines.append("sms.spam %d" % sum(r[0] == "spam" for r in rows))
    lines.append("sms.fnv %s" % fnv1a64("".join("%s\t%s\n" % (r[0], r[1]) for r in rows).encode("utf-8")))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Label", "Text"])
    for r in rows:
        w.writerow([0 if r[0] == "ham" else 1, r[1]])
    lines.append("sms.csv_fnv %s" % fnv1a64(buf.getvalue().encode("utf-8")))

    with open(os.path.join(data_dir, "instruction-data.json"), encoding="utf-8") as f:
        data = json.load(f)
    with_responses = [dict(e, model_response=e["output"]) for e in data]
    lines.append("instruct.entries %d" % len(data))
    lines.append("instruct.fnv %s" % fnv1a64(json.dumps(with_responses, indent=4).encode("ascii")))

    with open(out_path, "w") as f:
        f.write("# made by tests/reference/ch06_data_reference.py (Python %s)\n" % sys.version.split()[0])
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ch06_data_reference.py DATA_DIR OUTPUT.txt")
    main(sys.argv[1], sys.argv[2])
