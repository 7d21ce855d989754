#!/usr/bin/env lua5.4
-- tests/340-wordpiece.t — graft.text.WordPiece: hand-checked cases (accents, punctuation, CJK,
-- unknown words, words over 100 characters, control and space characters, special tokens in
-- the text, truncation of pairs, padding, batches, decode), tokenizer.json, then 300 random
-- texts of mixed scripts tokenized as a transcription of Hugging Face's BertTokenizer does
-- (tests/oracle/hf_bert_tokenizer.py), and train_wordpiece.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local json = graft.json
math.randomseed(T.seed())

local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))
local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end
local vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "un", "##want", "##ed", "want", "wa", ",",
               "runn", "##ing", ".", "!", "?", "a", "b", "c", "'", "s", "hello", "Hello", "世", "界", "οδος", "cafe",
               "##s", "t", "don", "n"}
write(dir .. "/vocab.txt", table.concat(vocab, "\n") .. "\n")
local tok = graft.text.WordPiece(dir .. "/vocab.txt")
local function toks(t, text) return table.concat(t:tokenize(text), " ") end

T.is(tok:size(), #vocab, "vocab.txt: one token per line")
T.is(tok:id("[CLS]"), 3, "ids are 1-based line numbers")
T.is(toks(tok, "UNwanted, running."), "un ##want ##ed , runn ##ing .", "lower-cased, punctuation split off, ## pieces")
T.is(toks(tok, "Héllo CAFÉ cafés"), "hello cafe cafe ##s", "accents stripped with lower-casing")
local cased = graft.text.WordPiece(dir .. "/vocab.txt", {lowercase = false})
T.is(toks(cased, "Héllo Hello hello"), "[UNK] Hello hello", "lowercase = false keeps case and accents")
local stripped = graft.text.WordPiece(dir .. "/vocab.txt", {lowercase = false, strip_accents = true})
T.is(toks(stripped, "Héllo"), "Hello", "strip_accents = true without lower-casing")
T.is(toks(tok, "a,b!c?"), "a , b ! c ?", "every punctuation character is a token")
T.is(toks(tok, "don't"), "don ' t", "an apostrophe splits a word")
T.is(toks(tok, "世界hello"), "世 界 hello", "CJK characters are split apart even without spaces")
T.is(toks(tok, "ΟΔΟΣ"), "οδος", "Greek: final sigma lower-cases to ς, then accents go")
T.is(toks(tok, "xyz wantzz"), "[UNK] [UNK]", "a word that cannot be pieced together is one [UNK]")
T.is(toks(tok, "wa" .. ("a"):rep(99) .. " " .. ("a"):rep(100)), "[UNK] [UNK]",
     "words over 100 characters are [UNK], as are words of 100 that do not piece")
T.is(toks(tok, "t\0h\1e\u{200B}\u{FFFD} want"), "the want", "control, format and U+FFFD characters vanish")
T.is(toks(tok, "a\u{00A0}b\u{3000}c\tthe\r\nwant"), "a b c the want", "no-break, ideographic and ASCII spaces split")
T.is(toks(tok, "the[MASK]want [SEP]"), "the [MASK] want [SEP]", "special tokens in the text stay whole")
T.is(toks(tok, "caf\xE9 the"), "[UNK] the", "invalid UTF-8 bytes are dropped (the rest is still a word)")

-- encode: [CLS] a [SEP] b [SEP], types 1 and 2, truncation and padding
local e = tok:encode("unwanted running", "the want")
T.is_deeply(e.input_ids, {3, 7, 8, 9, 13, 14, 4, 6, 10, 4}, "encode a pair: [CLS] a [SEP] b [SEP]")
T.is_deeply(e.token_type_ids, {1, 1, 1, 1, 1, 1, 1, 2, 2, 2}, "token types 1 then 2")
T.is_deeply(e.attention_mask, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "mask all 1")
e = tok:encode("unwanted running", "the want", {max_length = 7})
T.is_deeply(e.input_ids, {3, 7, 8, 4, 6, 10, 4}, "longest_first takes tokens from the longer sequence")
e = tok:encode("the want", "unwanted running", {max_length = 8})
T.is_deeply(e.input_ids, {3, 6, 10, 4, 7, 8, 9, 4}, "... whichever it is")
e = tok:encode("a b", "c a", {max_length = 6})
T.is_deeply(e.input_ids, {3, 18, 19, 4, 20, 4}, "... and the second on a tie")
e = tok:encode("unwanted running", "the want", {max_length = 8, truncation = "only_first"})
T.is_deeply(e.input_ids, {3, 7, 8, 9, 4, 6, 10, 4}, "only_first")
e = tok:encode("the want", "unwanted running", {max_length = 8, truncation = "only_second"})
T.is_deeply(e.input_ids, {3, 6, 10, 4, 7, 8, 9, 4}, "only_second")
e = tok:encode("the want", {max_length = 6, padding = "max_length"})
T.is_deeply(e.input_ids, {3, 6, 10, 4, 1, 1}, "padding = \"max_length\" pads with [PAD]")
T.is_deeply(e.attention_mask, {1, 1, 1, 1, 0, 0}, "... masked out")
T.is_deeply(e.token_type_ids, {1, 1, 1, 1, 1, 1}, "... token type 1")
e = tok:encode("unwanted running", {max_length = 4, truncation = false})
T.is(#e.input_ids, 7, "truncation = false keeps every token")
T.error_like(function() tok:encode("a", "b", {max_length = 2}) end, "max_length 2 is less than the 3 special tokens", "max_length too small")
T.error_like(function() tok:encode("a b c", "d", {max_length = 4, truncation = "only_second"}) end,
             "only_second truncation needs a second sequence long enough", "only_second impossible")

local b = tok:encode_batch({"the want", {"a", "b c"}, "hello"})
T.is_deeply(b.input_ids:totable(), {{3, 6, 10, 4, 1, 1}, {3, 18, 4, 19, 20, 4}, {3, 23, 4, 1, 1, 1}},
            "encode_batch: i64 ids padded to the longest")
T.is_deeply(b.token_type_ids:totable()[2], {1, 1, 1, 2, 2, 2}, "... token types of a pair")
T.is_deeply(b.attention_mask:totable()[3], {1, 1, 1, 0, 0, 0}, "... masks")
T.is(b.input_ids:dtype(), "i64", "... as i64 tensors")
b = tok:encode_batch({"the"}, {max_length = 5, padding = "max_length"})
T.is_deeply(b.input_ids:shape(), {1, 5}, "encode_batch to max_length")

T.is(tok:decode(tok:encode("Unwanted, running!").input_ids), "[CLS] unwanted, running! [SEP]", "decode glues ## pieces and punctuation")
T.is(tok:decode(graft.tensor({3, 31, 21, 30, 4}, "i64"), {skip_special_tokens = true}), "don't",
     "decode of a tensor, skipping special tokens; contractions rejoin")
T.error_like(function() tok:decode({99}) end, "decode: id 99 is not in the vocabulary (1..32)", "decode of an unknown id")

-- tokenizer.json
local vobj = {}
for i, t in ipairs(vocab) do vobj[t] = i - 1 end
write(dir .. "/tokenizer.json", json.encode({version = "1.0", normalizer = {type = "BertNormalizer", lowercase = false,
  strip_accents = json.null, clean_text = true, handle_chinese_chars = true},
  model = {type = "WordPiece", unk_token = "[UNK]", continuing_subword_prefix = "##", max_input_chars_per_word = 100, vocab = vobj}}))
local tj = graft.text.WordPiece(dir .. "/tokenizer.json")
T.is(tj:id("[SEP]"), 4, "tokenizer.json: id = Hugging Face's id + 1")
T.is(toks(tj, "Hello hello"), "Hello hello", "tokenizer.json's normalizer: lowercase = false")
write(dir .. "/bad.json", '{"model": {"type": "BPE", "vocab": {}}}')
T.error_like(function() graft.text.WordPiece(dir .. "/bad.json") end, "is not a Hugging Face tokenizer.json with a WordPiece model", "a BPE tokenizer.json")
T.error_like(function() graft.text.WordPiece(dir .. "/none.txt") end, "WordPiece: " .. dir .. "/none.txt", "a missing vocab")
T.error_like(function() graft.text.WordPiece({"a", "b"}) end, "the vocabulary has no [UNK] token", "no [UNK]")

-- train_wordpiece on a small corpus
local corpus = {}
local words = {"transfer", "learning", "graft", "tensor", "training", "learned", "transform", "grafting", "Lua", "café"}
for i = 1, 200 do
  local line = {}
  for j = 1, 8 do line[j] = words[(i * j + j * j) % #words + 1] end
  corpus[i] = table.concat(line, " ") .. (i % 3 == 0 and "." or ",")
end
local trained = graft.text.train_wordpiece(corpus, 40, {output = dir .. "/trained.txt"})
T.is(trained:size(), 40, "train_wordpiece reaches vocab_size")
local all = graft.text.train_wordpiece(corpus, 1000)
local whole = 0
for _, w in ipairs(words) do if #all:tokenize(w) == 1 then whole = whole + 1 end end
T.ok(all:size() < 1000 and whole == #words,
     ("asked for more than the text holds, it stops (%d tokens) with every word whole"):format(all:size()))
T.is_deeply({trained.tokens[1], trained.tokens[2], trained.tokens[3], trained.tokens[4], trained.tokens[5]},
            {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}, "special tokens take ids 1-5")
local unk = 0
for _, t in ipairs(trained:tokenize(table.concat(corpus, " "))) do if t == "[UNK]" then unk = unk + 1 end end
T.is(unk, 0, "the training text tokenizes without [UNK]")
T.ok(trained:id("transfer") or trained:id("tra"), "frequent words become whole tokens or long pieces")
T.is(#trained:tokenize("cafe"), #trained:tokenize("CAFÉ"), "lower-casing and accent stripping apply to training too")
T.is_deeply(graft.text.train_wordpiece(corpus, 40).tokens, trained.tokens, "training is deterministic")
T.is_deeply(graft.text.WordPiece(dir .. "/trained.txt").tokens, trained.tokens, "output = path writes vocab.txt")

-- Random mixed-script texts against the transcription of Hugging Face's tokenizer
local pieces = {"the", "want", "un", "wa", "runn", "ing", "hello", "HELLO", "Héllo", "café", "CAFÉ", "ΟΔΟΣ", "οδός",
  "世界", "日本語", "한국어", "naïve", "Ångström", "ﬁ", "İstanbul", "straße", "e\u{301}", "\u{301}", "don't", "a.b",
  "!", "?", ",", "«»", "—", "…", "¿", "🙂", "\t", "\n", " ", "\u{00A0}", "\u{200B}", "\u{3000}", "\1", "x" .. ("y"):rep(101)}
local texts = {}
for i = 1, 300 do
  local parts = {}
  for j = 1, math.random(1, 12) do
    parts[j] = pieces[math.random(#pieces)] .. (math.random() < 0.6 and " " or "")
  end
  texts[i] = table.concat(parts)
end
local big = graft.text.train_wordpiece({table.concat(texts, " ")}, 150, {min_frequency = 1})
local big_cased = graft.text.WordPiece(big.tokens, {lowercase = false})
write(dir .. "/texts.json", json.encode({texts = texts, vocab = big.tokens}))
oracle.run(([==[
import json
import hf_bert_tokenizer as hf
with open("%s/texts.json", encoding="utf-8") as f:
    d = json.load(f)
vocab = {t: i for i, t in enumerate(d["vocab"])}
res = {"lower": [hf.tokenize(vocab, t) for t in d["texts"]],
       "cased": [hf.tokenize(vocab, t, do_lower_case=False) for t in d["texts"]]}
with open("%s/want.json", "w", encoding="utf-8") as f:
    json.dump(res, f)
]==]):format(dir, dir), {})
local f = assert(io.open(dir .. "/want.json"))
local want = json.decode(f:read("a"))
f:close()
for _, case in ipairs {{"lower", big}, {"cased", big_cased}} do
  local bad = {}
  for i, text in ipairs(texts) do
    local got = case[2]:tokenize(text)
    if table.concat(got, "\1") ~= table.concat(want[case[1]][i], "\1") then bad[#bad + 1] = i end
  end
  T.ok(#bad == 0, ("%s: %d random texts tokenize as Hugging Face's BertTokenizer does (%d differ)"):format(case[1], #texts, #bad))
  for k = 1, math.min(3, #bad) do
    T.diag(("%q\n  graft %s\n  hf    %s"):format(texts[bad[k]], table.concat(case[2]:tokenize(texts[bad[k]]), " "),
      table.concat(want[case[1]][bad[k]], " ")))
  end
end
T.done()
