// Writes tiktoken_golden.json: ids from tiktoken itself (the Rust original,
// through its WASM build, npm package tiktoken@1.0.22) for random texts
// that stress the pre-tokenizers. Regenerate with:
//   npm install tiktoken@1.0.22 && node tiktoken_golden.js > tiktoken_golden.json
// Characters are drawn from those assigned in Unicode 14 (Go's tables are
// Unicode 15, tiktoken's newer; characters assigned later differ by class).
const { get_encoding } = require("tiktoken");
let seed = 7;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const pools = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\u00a0", "\u3000", "\u2028", "\u0085",
  "'", "'s", "'S", "'LL", "'re", "'Ve", "'d", "'ſ", "ſ", "a", "Z", "hello", "The", "é", "e\u0301", "中文", "日本語", "한국",
  "ß", "Ω", "Ǆ", "ﬁ", "0", "42", "12345", "½", "٣", "१२", "!", "?", ".", ",", "-", "$", "\"", "(", "...", "\x7f", "\x00",
  "😀", "👍🏽", "\u200d", "\ufffd", "<|endoftext|>", "\u0301", "\u200b", "ℕ", "Ⅻ", "²"];
const ranges = [[0x20, 0x7f], [0xa0, 0x2ff], [0x370, 0x52f], [0x590, 0x6ff], [0x900, 0xdff], [0x1e00, 0x1fff],
  [0x2000, 0x2bff], [0x3000, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0x1f300, 0x1f64f]];
const texts = [];
for (let i = 0; i < 1500; i++) {
  let s = "";
  const n = rnd(30);
  while (s.length < n) {
    if (rnd(6) === 0) {
      const [lo, hi] = ranges[rnd(ranges.length)];
      s += String.fromCodePoint(lo + rnd(hi - lo));
    } else {
      s += pools[rnd(pools.length)];
    }
  }
  texts.push(s);
}
const out = { texts, ids: {} };
for (const name of ["gpt2", "cl100k_base"]) {
  const enc = get_encoding(name);
  out.ids[name] = texts.map((t) => Array.from(enc.encode_ordinary(t)));
  enc.free();
}
console.log(JSON.stringify(out));
