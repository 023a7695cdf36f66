#!/usr/bin/env node
/*
 * tiktoken_bench.js - time OpenAI's tiktoken (npm, WASM) GPT-2 encoder.
 *
 *   node tiktoken_bench.js FILE ROUNDS
 *   node tiktoken_bench.js --version
 *
 * Reads FILE as UTF-8, does one untimed warm-up encode, then encodes it
 * ROUNDS times with get_encoding("gpt2").encode_ordinary, printing one line
 * per round to stdout:  <seconds> <MB/s> <n_tokens>   (MB = 1e6 input bytes).
 * The C benchmark runs this alternately with our encoder. --version prints
 * one line: "tiktoken <version> (npm, WASM) on node <version>, <its folder>".
 * tiktoken comes from `npm install tiktoken` in tests/reference or NODE_PATH.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { get_encoding } = require("tiktoken");

if (process.argv[2] === "--version") {
  // the package's own package.json ("exports" hides it from require)
  const folder = path.dirname(require.resolve("tiktoken"));
  const { version } = JSON.parse(fs.readFileSync(path.join(folder, "package.json"), "utf8"));
  console.log(`tiktoken ${version} (npm, WASM) on node ${process.version}, ${folder}`);
  process.exit(0);
}

const [file, roundsArg] = process.argv.slice(2);
const rounds = Number.parseInt(roundsArg, 10);
if (!file || !(rounds > 0)) {
  console.error("usage: node tiktoken_bench.js FILE ROUNDS");
  process.exit(2);
}

const bytes = fs.readFileSync(file);
const text = bytes.toString("utf8");
const enc = get_encoding("gpt2");

enc.encode_ordinary(text); // warm-up: WASM compile, caches
for (let i = 0; i < rounds; i++) {
  const t0 = process.hrtime.bigint();
  const n = enc.encode_ordinary(text).length;
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${sec.toFixed(6)} ${(bytes.length / 1e6 / sec).toFixed(3)} ${n}`);
}
enc.free();
