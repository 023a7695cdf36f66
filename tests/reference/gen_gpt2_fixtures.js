#!/usr/bin/env node
/*
 * gen_gpt2_fixtures.js - expected GPT-2 token ids from OpenAI's tiktoken.
 *
 * Writes tests/fixtures/gpt2_encode.txt: hand-picked hard cases plus a seeded
 * random section, encoded with tiktoken's get_encoding("gpt2").
 *
 * Line format (one case per line; lines starting with '#' are comments):
 *   <hex of input UTF-8 bytes>\t<allow_special 0|1>\t<space-separated ids>\n
 * allow_special=1: encode(text, "all") - "<|endoftext|>" becomes id 50256.
 * allow_special=0: encode_ordinary(text) - "<|endoftext|>" is plain text.
 * The empty input is a line with an empty hex field and an empty id list.
 *
 * Run:
 *   cd tests/reference && npm install tiktoken
 *   node gen_gpt2_fixtures.js ../fixtures/gpt2_encode.txt
 * (tiktoken is found by normal require() resolution or NODE_PATH.)
 * Generated from tiktoken 1.0.22. The random section draws code points from
 * tiktoken's own \p{L}/\p{N}/\s classes (probed via gen_unicode_classes.js),
 * and a fixed-seed PRNG, so reruns give the same file.
 *
 * Note: whether a rare code point is a letter, number or other barely shows
 * in the ids, since BPE has no merges across such characters. Appending "'s"
 * makes Other visible (it absorbs the apostrophe), so the class sections use
 * that; letter-vs-number mix-ups stay mostly invisible to GPT-2 ids.
 */
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");
const uc = require("./gen_unicode_classes.js");

const outPath = process.argv[2];
if (!outPath) {
  console.error("usage: node gen_gpt2_fixtures.js OUT.txt");
  process.exit(2);
}
const enc = get_encoding("gpt2");

/* ---- output ---------------------------------------------------------- */

const lines = [];
const comment = (text) => lines.push("# " + text.replace(/[\r\n\t]/g, " "));

function addCase(text, allowSpecial = 0) {
  const ids = allowSpecial ? enc.encode(text, "all") : enc.encode_ordinary(text);
  const hex = Buffer.from(text, "utf8").toString("hex");
  lines.push(`${hex}\t${allowSpecial ? 1 : 0}\t${Array.from(ids).join(" ")}`);
  return Array.from(ids);
}

function group(title, texts, allowSpecial = 0) {
  comment(title);
  for (const t of texts) addCase(t, allowSpecial);
}

/* ---- hand-picked cases ------------------------------------------------- */

const BOOK =
  "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace.";
const BOOK_IDS = [15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252,
  18250, 8812, 2114, 286, 617, 34680, 27271, 13];

comment("book example (Raschka ch. 2), with special tokens allowed");
const got = addCase(BOOK, 1);
if (got.join() !== BOOK_IDS.join()) throw new Error("book ids differ: " + got);
comment("same text, <|endoftext|> as ordinary text");
addCase(BOOK, 0);
comment("book: unknown word");
if (addCase("Akwirw ier").join() !== "33901,86,343,86,220,959")
  throw new Error("Akwirw ier ids differ");

group("special token edge cases (allow_special=1)", [
  "<|endoftext|>", "<|endoftext|><|endoftext|>", "a<|endoftext|>b",
  " <|endoftext|> ", "<|endoftext|", "<|endoftext|>>", "<<|endoftext|>",
  "<|ENDOFTEXT|>", "x\n<|endoftext|>\ny",
], 1);
group("special token text as ordinary text (allow_special=0)", [
  "<|endoftext|>", "<|endoftext|><|endoftext|>", "a<|endoftext|>b", "<|", "|>",
]);

group("empty and trivial", ["", " ", "a", "A", "0", ".", "\n", "\t", "\r", "'"]);

group("non-English scripts", [
  "你好，世界！", "我喜欢喝茶。今天天气很好",
  "こんにちは、世界。カタカナとひらがな", "ｶﾀｶﾅ半角",
  "안녕하세요 세계", "한국어 텍스트입니다.",
  "مرحبا بالعالم", "السَّلَامُ عَلَيْكُمْ",
  "नमस्ते दुनिया", "हिन्दी में क्षत्रिय", "संस्कृतम्",
  "สวัสดีชาวโลก", "ภาษาไทย ๑๒๓",
  "שלום עולם", "עִבְרִית",
  "Привет, мир!", "Ёжик в тумане",
  "Γειά σου Κόσμε", "ΑΒΓ αβγ ς",
  "Tiếng Việt có dấu", "Straße Größe", "ǅemal ǈ ǋ",
  "ქართული", "Հայերեն", "አማርኛ", "ᏣᎳᎩ", "ᠮᠣᠩᠭᠣᠯ",
]);

group("emoji", [
  "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "🇺", "❤️", "☺︎", "1️⃣", "#️⃣",
  "🧑🏿‍💻 coding", "hi 👋 there", "🤷‍♀️🤷🏻‍♂️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "😀😀😀", " 😀", "a😀b",
]);

group("combining marks", [
  "e\u0301", "e\u0301e\u0301", "cafe\u0301", " e\u0301", "a\u0300\u0301\u0302\u0303",
  "\u0301", " \u0301", "\u0301a", "n\u0303o", "Z\u0351\u0358\u0362a\u0338l\u0335g\u0334o",
  "x\u20d7", "\u093f", "क\u093f", "\ufe20\ufe21",
]);

group("digits of other scripts, superscripts, fractions, roman numerals", [
  "٠١٢٣٤٥٦٧٨٩", "۱۲۳", "०१२३४५६७८९", "১২৩", "０１２３", "１２３４５６",
  "x²+y³", "¹²³⁴", "H₂O", "½ ¼ ¾", "⅓⅔⅛", "Ⅻ ⅻ Ⅳ", "ⅰⅱⅲ", "①②③", "⑴⑵", "〇一二三",
  "𝟘𝟙𝟚", "123abc", "abc123", "1,000,000.50", "3.14159", "-42", "+1", "0x1F",
]);

group("whitespace: tabs, CR/LF, runs of spaces", [
  "a\tb", "\t", "\t\t", "\tx", "a\r\nb", "a\nb", "a\n\nb", "a\rb", "\r\n", "\r\n\r\n",
  "line1\nline2\n", "a  b", "a   b", "a    b", "  a", "   a", "a  ", "a   ", "   ",
  "a  .", "a   ,", "x  \n", "  \n  a", "\t\t x", " \u00a0 x", "\n \n", " \n",
  "a \n b", "a\t \tb", "    def f():\n        return 1\n", "  !", "  ?x", "end.   ",
]);

group("unusual spaces and invisibles", [
  "a\u00a0b", "\u00a0", "\u00a0\u00a0x", "a \u00a0b", "a\u3000b", "\u3000\u3000", "日本\u3000語",
  "a\u0085b", "\u0085", " \u0085 x", "\ufeffhello", "\ufeff", "ab\ufeffcd", " \ufeff x",
  "a\u2028b", "a\u2029b", "\u2028\u2029", "a\u200bb", "\u200b", " \u200b ", "a\u180eb",
  "a\u001cb\u001dc\u001ed\u001ff", "\u001c \u001f", "a\u000bb\u000cc", "\u2000\u2001\u2002x",
  "\u202fx\u205fy\u1680z", "a\u200db", "a\u200cb", "\u00ad", "soft\u00adhyphen",
  "a\u0000b", "\u0000", "\u007f", "\u0080\u009f", " \u200b.", "a \u180e.", " \u001c.",
  "a\u001c b", " \u3000.", " \u00a0.", " \u2028.",
]);

group("contractions", [
  "I'm", "I'M", "you'll", "YOU'LL", "'s'", "''s", "don't", "DON'T", "'re'", "we've",
  "WE'VE", "he'd", "HE'D", "it's", "IT'S", "they're", "THEY'RE", "'t", "'T", "'ll",
  "'LL", "'Ll", "'lL", "'ve", "'Ve", "'m", "'M", "'d", "'D", "'sa", "'st", "'res",
  "'x", " 's", " 'll", "x'll've", "rock'n'roll", "O'Neil", "l'homme", "can’t", "it’s",
  "'s's's", "1's", "_'s",
]);

group("apostrophe runs and lone punctuation", [
  "'", "''", "'''", "''''", " '", " ''", "' '", "x''", "'''s", "''re", "!", "?", ".",
  ",", "...", "!!!", "?!", " !", " ...", "—", "–", "…", "«»", "“quoted”", "(a)", "[]{}",
  "@#$%^&*", "~`|\\", "\"", "\"\"", "a.b.c", "!a", "a!", "¿Qué?", "¡Hola!",
]);

group("code and URLs", [
  "int main(void) { return 0; }",
  "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
  "def foo(x):\n    return x**2  # square\n",
  "if x != None and y >= 3:\n\tpass",
  "const s = `a${b}c`;", "#include <stdio.h>\n", "a->b", "x==y&&z||w", "0xDEADBEEF",
  "https://www.example.com/path/to/page?query=1&lang=en#frag",
  "http://localhost:8080/", "mailto:someone@example.org", "C:\\Users\\me\\file.txt",
  "{\"key\": [1, 2.5, \"v\"]}", "<div class=\"x\">hi</div>", "SELECT * FROM t WHERE id=1;",
  "snake_case_name camelCaseName PascalCase kebab-case", "__init__", "$HOME/.bashrc",
]);

group("long words and digit runs", [
  "a".repeat(300),
  "supercalifragilisticexpialidocious".repeat(30),
  "Pneumonoultramicroscopicsilicovolcanoconiosis",
  "1234567890".repeat(40),
  "0".repeat(200),
  " " + "x".repeat(100),
  " ".repeat(100) + "a",
  "\n".repeat(50),
  "!".repeat(100),
  "字".repeat(200),
  "😀".repeat(50),
  "ab ".repeat(100),
]);

/* A code point X followed by "'s" shows in the ids whether X is Other:
 * Other absorbs the apostrophe (X' + s), while a letter, number or space
 * ends its piece and leaves the contraction 's whole. Most other contexts
 * do not show the class, because BPE has no merges across rare characters. */
const withS = (cps) => cps.map((cp) => String.fromCodePoint(cp) + "'s");

/* Code points that tiktoken (Unicode 16) and node's regex (Unicode 17 in node
 * 20.20) classify differently: Unicode 17 additions (tiktoken: Other; node:
 * letter/number), and \s (tiktoken: U+0085 is \s, U+FEFF is not; JS: the
 * opposite). Also invisibles that some libraries call space. */
group("class differs between tiktoken and node's /\\p{L}|\\p{N}|\\s/u", [
  ...withS([0x088f, 0x0c5c, 0x0cdc, 0xa7ce, 0xa7d2, 0xa7f1, 0x10940, 0x10ec5, 0x11db0,
    0x11de0, 0x16ea0, 0x16ff4, 0x187f8, 0x18d80, 0x1e6c0, 0x2b73a, 0x2cea2, 0x323b0,
    0x0085, 0xfeff, 0x200b, 0x180e, 0x001c, 0x001d, 0x001e, 0x001f]),
  "x\u088fy", " \ua7d2", "a\u0085b", "a\ufeffb", " \u0085.", "a \u0085.", "word \u0085(",
  " \ufeff.", "a \ufeff.", "word \ufeff(", "a \u001f's", "x\u001d'll",
]);
/* Letters/digits added in Unicode 15-16 (Other in older tables, e.g. Debian's
 * or Python 3.11's Unicode 14). The last two contain a cross-character BPE
 * merge, so their ids depend on the class even without the 's. */
group("Unicode 15/16 additions (letters and digits new since Unicode 14)", [
  ...withS([0x1c89, 0xa7cb, 0xa7da, 0x105c0, 0x10d40, 0x10d4a, 0x10ec2, 0x1123f, 0x11380,
    0x116d0, 0x11bc0, 0x11bf0, 0x11f04, 0x11f50, 0x1342f, 0x13460, 0x16100, 0x16130,
    0x16d40, 0x16d70, 0x18cff, 0x1b132, 0x1ccf0, 0x1d2c0, 0x1df25, 0x1e030, 0x1e4d0,
    0x1e4f0, 0x1e5d0, 0x1e5f1, 0x2b739, 0x2ebf0, 0x31350]),
  "\u1c89\u1c8a", "\ua7cb\ua7cc\ua7cd", "\u{10d40}\u{10d41} \u{10d4a}\u{10d4b}",
  "\u{11bc0}\u{11bc1} \u{11bf0}\u{11bf1}", "\u{16d40}\u{16d41} \u{16d70}",
  "\ua7da\u9002", "\u{31351}\u58eb",
]);
group("private use, noncharacters, unassigned, U+FFFD", [
  "\ue000", "a\ue000b", "\uf8ff", "\u{f0000}", "\u{10fffd}", "\u{10ffff}", "\ufffe",
  "\uffff", "\u0378", "\u{e0001}", "\ufffd", "a\ufffdb", " \ufffd", "\ufffd\ufffd",
]);
group("mixed", [
  "The café's crème brûlée costs €5.50 (¥800).",
  "Mixed 中文 and English, 123 and ١٢٣.",
  "  Leading and trailing spaces  ",
  "Tab\tseparated\tvalues\n1\t2\t3\n",
  "He said, \"I'LL be back!\" -- and he WAS.",
  "Ünïcödé ñ ß ÆØÅ æøå",
]);

/* ---- class table boundary probes -------------------------------------- */

/* For every run of same-class code points in tiktoken's table: its first and
 * last code point and the neighbours just outside, each followed by 's (see
 * withS above), 8 per line separated by spaces. Catches off-by-one ranges. */
const cls = uc.probeClasses();
{
  const isSur = (cp) => cp >= 0xd800 && cp <= 0xdfff;
  const probes = new Set();
  for (const [first, last] of uc.toRanges(cls))
    for (const cp of [first - 1, first, last, last + 1])
      if (cp >= 0 && cp <= uc.MAX_CP && !isSur(cp)) probes.add(cp);
  const list = [...probes].sort((x, y) => x - y);
  comment(`class boundary probes (${list.length} code points, each followed by 's)`);
  for (let i = 0; i < list.length; i += 8)
    addCase(withS(list.slice(i, i + 8)).join(" "));
}

/* ---- seeded random section -------------------------------------------- */

/* xorshift32: tiny, deterministic, good enough for picking test inputs. */
let state = 0x2545f491;
function rand() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state;
}
const randInt = (n) => rand() % n;                     /* 0 .. n-1 */
const pick = (arr) => arr[randInt(arr.length)];

/* Code points per tiktoken class, from the same probe as unicode_classes.c. */
const byClass = [[], [], [], []];
for (let cp = 0; cp <= uc.MAX_CP; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  byClass[cls[cp]].push(cp);
}
const bmp = byClass.map((a) => a.filter((cp) => cp < 0x10000));
const nonAsciiOther = bmp[uc.OTHER].filter((cp) => cp >= 0x80);
const fromCp = (cp) => String.fromCodePoint(cp);

const ASCII_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const SUFFIXES = ["s", "t", "re", "ve", "m", "ll", "d"];
const MARKS = [];
for (let cp = 0x300; cp <= 0x36f; cp++) MARKS.push(cp);
MARKS.push(0x093f, 0x0940, 0x094d, 0x0e31, 0x0e34, 0x05b4, 0x064e, 0x20d7, 0x20e3, 0xfe0f, 0xfe20);
const EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "❤️", "🧑🏿‍💻", "🙂", "✨",
  "\u{1f3fb}", "\u200d", "\ufe0f", "🇺", "🎉"];

function randomCase(s) {
  let out = "";
  for (const ch of s) out += rand() & 1 ? ch.toUpperCase() : ch;
  return out;
}

/* One "atom": a short piece of text drawn from a weighted mixture. */
function atom() {
  const r = randInt(100);
  if (r < 22) return ASCII_LETTERS[randInt(ASCII_LETTERS.length)];
  if (r < 28) return String(randInt(10));
  if (r < 34) return ASCII_PUNCT[randInt(ASCII_PUNCT.length)];
  if (r < 44) return " ";
  if (r < 47) return pick(["\t", "\n", "\r", "\r\n", "  ", "\n\n"]);
  if (r < 54) return "'" + randomCase(pick(SUFFIXES));
  if (r < 62) return fromCp(pick(bmp[uc.LETTER]));
  if (r < 65) return fromCp(pick(byClass[uc.LETTER]));       /* mostly astral */
  if (r < 69) return fromCp(pick(byClass[uc.NUMBER]));
  if (r < 73) return fromCp(pick(byClass[uc.SPACE]));
  if (r < 77) return fromCp(pick(nonAsciiOther));
  if (r < 79) return fromCp(pick(byClass[uc.OTHER]));        /* incl. PUA, unassigned */
  if (r < 85) return fromCp(pick(MARKS));
  if (r < 91) return pick(EMOJI);
  if (r < 92) return "<|endoftext|>";
  if (r < 94) return "'";
  return ASCII_LETTERS[randInt(ASCII_LETTERS.length)].repeat(1 + randInt(6));
}

const N_RANDOM = 1500;
comment(`seeded random strings (${N_RANDOM}); allow_special=1 on about 1 in 5`);
for (let i = 0; i < N_RANDOM; i++) {
  const len = 1 + randInt(40);
  let cps = [];
  while (cps.length < len) cps.push(...Array.from(atom()));
  const text = cps.slice(0, len).join("");
  addCase(text, randInt(5) === 0 ? 1 : 0);
}

enc.free();

const header = [
  "# GENERATED by tests/reference/gen_gpt2_fixtures.js from tiktoken gpt2 - do not edit.",
  "# <hex UTF-8 input>\\t<allow_special 0|1>\\t<space-separated token ids>",
  "# allow_special=1: encode(text, \"all\"); allow_special=0: encode_ordinary(text).",
];
fs.writeFileSync(outPath, header.concat(lines).join("\n") + "\n");
const nCases = lines.filter((l) => !l.startsWith("#")).length;
console.error(`wrote ${outPath}: ${nCases} cases`);
