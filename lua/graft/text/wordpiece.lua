--- graft.text.WordPiece: BERT's tokenizer, as Hugging Face's BertTokenizer runs it. Basic
-- tokenization (invalid and control characters dropped, whitespace split, CJK characters
-- split apart, lower-casing and accent stripping by option, punctuation split off), then
-- greedy longest-match-first WordPiece with `##` continuations and `[UNK]`. Ids are 1-based:
-- line n of vocab.txt is id n. The Unicode data comes from scripts/gen-unicode.py.
-- @module graft.text
local core = require "graft.core"
local json = require "graft.json"
local U = require "graft.text.unicode"
local options = require "graft.options"

local SPECIALS = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

-- Character data, parsed on first use --------------------------------------------------------
local maps = {}
local function char_map(name)
  if maps[name] then return maps[name] end
  local m = {}
  for cp, rep in U[name]:gmatch("(%x+)=([%x%.]*),") do
    local out = {}
    for h in rep:gmatch("%x+") do out[#out + 1] = tonumber(h, 16) end
    m[tonumber(cp, 16)] = out
  end
  maps[name] = m
  return m
end

local function in_ranges(r, cp)   -- r: sorted {lo1, hi1, lo2, hi2, ...}
  local lo, hi = 1, #r // 2
  while lo <= hi do
    local mid = (lo + hi) // 2
    if cp < r[2 * mid - 1] then hi = mid - 1
    elseif cp > r[2 * mid] then lo = mid + 1
    else return true end
  end
  return false
end

-- The CJK Unified Ideographs blocks, as BERT defines "Chinese characters".
local CJK = {0x3400, 0x4DBF, 0x4E00, 0x9FFF, 0xF900, 0xFAFF, 0x20000, 0x2A6DF, 0x2A700, 0x2B73F,
             0x2B740, 0x2B81F, 0x2B820, 0x2CEAF, 0x2F800, 0x2FA1F}

-- Code points of a UTF-8 string; a byte that starts no valid sequence becomes U+FFFD (and
-- is then dropped, as Hugging Face drops U+FFFD).
local function codepoints(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local ok, cp = pcall(utf8.codepoint, s, i)
    if ok then
      out[#out + 1] = cp
      i = i + #utf8.char(cp)
    else
      out[#out + 1] = 0xFFFD
      i = i + 1
    end
  end
  return out
end

local function is_letter_like(cp)   -- for the final-sigma rule of str.lower()
  return cp and not in_ranges(U.whitespace, cp) and not in_ranges(U.punctuation, cp) and not in_ranges(U.control, cp)
end

-- lower-case and/or strip accents of one word's code points
local function normalise(cps, lower, strip)
  if lower then
    local m, out = char_map("lower"), {}
    for i, cp in ipairs(cps) do
      if cp == 0x3A3 and is_letter_like(cps[i - 1]) and not is_letter_like(cps[i + 1]) then
        out[#out + 1] = 0x3C2   -- Σ at the end of a word is ς
      else
        local r = m[cp]
        if r then for _, c in ipairs(r) do out[#out + 1] = c end else out[#out + 1] = cp end
      end
    end
    cps = out
  end
  if strip then
    local m, out = char_map("strip_accents"), {}
    for _, cp in ipairs(cps) do
      if cp >= 0xAC00 and cp <= 0xD7A3 then   -- a Hangul syllable decomposes to its jamo
        local s = cp - 0xAC00
        out[#out + 1] = 0x1100 + s // 588
        out[#out + 1] = 0x1161 + (s % 588) // 28
        if s % 28 ~= 0 then out[#out + 1] = 0x11A7 + s % 28 end
      else
        local r = m[cp]
        if r then for _, c in ipairs(r) do out[#out + 1] = c end else out[#out + 1] = cp end
      end
    end
    cps = out
  end
  return cps
end

-- BERT's basic tokenizer on text without special tokens, appending to out.
local function basic_tokens(text, o, out)
  if not text:find("[\128-\255]") then   -- ASCII: the same rules with Lua patterns
    text = text:gsub("[%z\1-\8\11\12\14-\31\127]", "")
    for word in text:gmatch("%S+") do
      if o.lowercase then word = word:lower() end
      for tok in word:gsub("%p", " %0 "):gmatch("%S+") do out[#out + 1] = tok end
    end
    return out
  end
  local words, cur = {}, {}
  local function flush()
    if #cur > 0 then words[#words + 1], cur = cur, {} end
  end
  for _, cp in ipairs(codepoints(text)) do
    if cp == 0 or cp == 0xFFFD or in_ranges(U.control, cp) then
      -- dropped
    elseif in_ranges(U.whitespace, cp) then
      flush()
    elseif in_ranges(CJK, cp) then
      flush()
      words[#words + 1] = {cp}
    else
      cur[#cur + 1] = cp
    end
  end
  flush()
  for _, w in ipairs(words) do
    local piece = {}
    for _, cp in ipairs(normalise(w, o.lowercase, o.strip_accents)) do
      if in_ranges(U.punctuation, cp) then
        if #piece > 0 then out[#out + 1], piece = utf8.char(table.unpack(piece)), {} end
        out[#out + 1] = utf8.char(cp)
      elseif not in_ranges(U.whitespace, cp) then   -- stripping can leave nothing but spaces
        piece[#piece + 1] = cp
      end
    end
    if #piece > 0 then out[#out + 1] = utf8.char(table.unpack(piece)) end
  end
  return out
end

-- The tokenizer ------------------------------------------------------------------------------

--- A WordPiece tokenizer.
-- @type WordPiece
local WordPiece = {}
WordPiece.__index = WordPiece

-- vocab.txt (one token per line) or Hugging Face's tokenizer.json.
local function read_vocab(path, o)
  local f, err = io.open(path, "rb")
  if not f then error(("WordPiece: %s"):format(err), 4) end
  local text = f:read("a")
  f:close()
  local tokens = {}
  if path:match("%.json$") then
    local ok, t = pcall(json.decode, text)
    local model = ok and type(t) == "table" and t.model
    if type(model) ~= "table" or model.type ~= "WordPiece" or type(model.vocab) ~= "table" then
      error(("WordPiece: %s is not a Hugging Face tokenizer.json with a WordPiece model"):format(path), 4)
    end
    for tok, id in pairs(model.vocab) do
      if math.type(id) ~= "integer" or id < 0 then error(("WordPiece: %s: token %q has id %s"):format(path, tok, tostring(id)), 4) end
      if tokens[id + 1] then error(("WordPiece: %s: id %d is given twice"):format(path, id), 4) end
      tokens[id + 1] = tok
    end
    for i = 1, #tokens do if tokens[i] == nil then error(("WordPiece: %s: no token has id %d"):format(path, i - 1), 4) end end
    local norm = type(t.normalizer) == "table" and t.normalizer or {}
    if norm.type == "Sequence" then
      for _, n in ipairs(norm.normalizers or {}) do if n.type == "BertNormalizer" then norm = n end end
    end
    if o.lowercase == nil and type(norm.lowercase) == "boolean" then o.lowercase = norm.lowercase end
    if o.strip_accents == nil and type(norm.strip_accents) == "boolean" then o.strip_accents = norm.strip_accents end
    o.unk_token = o.unk_token or (type(model.unk_token) == "string" and model.unk_token) or nil
    o.prefix = type(model.continuing_subword_prefix) == "string" and model.continuing_subword_prefix or nil
    o.max_chars = math.type(model.max_input_chars_per_word) == "integer" and model.max_input_chars_per_word or nil
  else
    for line in (text:gsub("\r\n", "\n") .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
      tokens[#tokens + 1] = line
    end
  end
  return tokens
end

-- WordPiece(vocab [, opts]): see graft.text.WordPiece (text/init.lua).
local function new(vocab, opts)
  local o = {}
  opts = options.check("WordPiece", opts, {lowercase = "boolean", strip_accents = "boolean", unk_token = "string",
                                           max_input_chars_per_word = "integer", prefix = "string"})
  for k, v in pairs(opts) do o[k] = v end
  local tokens
  if type(vocab) == "string" then tokens = read_vocab(vocab, o)
  elseif type(vocab) == "table" then tokens = vocab
  else error("WordPiece: vocab must be a vocab.txt or tokenizer.json path, or an array of tokens", 2) end
  if o.lowercase == nil then o.lowercase = true end
  if o.strip_accents == nil then o.strip_accents = o.lowercase end
  local self = setmetatable({tokens = tokens, ids = {}, lowercase = o.lowercase, strip_accents = o.strip_accents,
    prefix = o.prefix or "##", max_chars = o.max_input_chars_per_word or o.max_chars or 100}, WordPiece)
  for id, tok in ipairs(tokens) do
    if self.ids[tok] == nil then self.ids[tok] = id end
  end
  self.unk_token = o.unk_token or "[UNK]"
  self.specials = {}
  for _, s in ipairs(SPECIALS) do if self.ids[s] then self.specials[#self.specials + 1] = s end end
  if not self.ids[self.unk_token] then error(("WordPiece: the vocabulary has no %s token"):format(self.unk_token), 2) end
  return self
end

--- size(): the number of tokens in the vocabulary.
function WordPiece:size() return #self.tokens end

--- id(token): the token's id, or nil.
function WordPiece:id(token) return self.ids[token] end

-- Greedy longest-match-first pieces of one basic token, appended to out.
function WordPiece:pieces(word, out)
  local n = utf8.len(word)
  if n > self.max_chars then out[#out + 1] = self.unk_token return end
  if self.ids[word] then out[#out + 1] = word return end
  local starts = {}
  for p in utf8.codes(word) do starts[#starts + 1] = p end
  starts[n + 1] = #word + 1
  local first, i = #out + 1, 1
  while i <= n do
    local found
    for j = n, i, -1 do
      local sub = word:sub(starts[i], starts[j + 1] - 1)
      if i > 1 then sub = self.prefix .. sub end
      if self.ids[sub] then found = j out[#out + 1] = sub break end
    end
    if not found then
      for k = #out, first, -1 do out[k] = nil end
      out[#out + 1] = self.unk_token
      return
    end
    i = found + 1
  end
end

--- tokenize(text) -> array of tokens (strings).
function WordPiece:tokenize(text)
  if type(text) ~= "string" then error("tokenize: text must be a string, not a " .. type(text), 2) end
  local basic, out = {}, {}
  local o = {lowercase = self.lowercase, strip_accents = self.strip_accents}
  -- special tokens written in the text stay whole
  local at = 1
  while at <= #text do
    local best, best_s
    for _, s in ipairs(self.specials) do
      local p = text:find(s, at, true)
      if p and (not best or p < best) then best, best_s = p, s end
    end
    if not best then basic_tokens(text:sub(at), o, basic) break end
    basic_tokens(text:sub(at, best - 1), o, basic)
    basic[#basic + 1] = {best_s}
    at = best + #best_s
  end
  for _, w in ipairs(basic) do
    if type(w) == "table" then out[#out + 1] = w[1] else self:pieces(w, out) end
  end
  return out
end

--- convert_tokens_to_ids(tokens) -> ids ([UNK]'s id for unknown tokens).
function WordPiece:convert_tokens_to_ids(tokens)
  local ids, unk = {}, self.ids[self.unk_token]
  for i, t in ipairs(tokens) do ids[i] = self.ids[t] or unk end
  return ids
end

local function special_id(self, tok, fn)
  local id = self.ids[tok]
  if not id then error(("%s: the vocabulary has no %s token"):format(fn, tok), 3) end
  return id
end

-- Shortens a and b (arrays, in place) to `budget` tokens in all.
local function truncate(a, b, budget, strategy, fn)
  local function cut(t, n) for _ = 1, n do t[#t] = nil end end
  local over = #a + (b and #b or 0) - budget
  if over <= 0 then return end
  if strategy == "only_first" or (strategy == "longest_first" and not b) then
    if over > #a then error(("%s: max_length leaves no room for the first sequence"):format(fn), 3) end
    cut(a, over)
  elseif strategy == "only_second" then
    if not b or over > #b then error(("%s: only_second truncation needs a second sequence long enough"):format(fn), 3) end
    cut(b, over)
  elseif strategy == "longest_first" then   -- one token at a time from the longer (ties: the second)
    for _ = 1, over do if #a > #b then a[#a] = nil else b[#b] = nil end end
  else
    error(("%s: truncation must be true, false, \"longest_first\", \"only_first\" or \"only_second\", not %s"):format(
      fn, tostring(strategy)), 3)
  end
end

-- One encoded sequence (or pair) as arrays, before padding.
local function encode_one(self, text, pair, o, fn)
  local a = self:convert_tokens_to_ids(self:tokenize(text))
  local b = pair and self:convert_tokens_to_ids(self:tokenize(pair)) or nil
  local cls, sep = special_id(self, "[CLS]", fn), special_id(self, "[SEP]", fn)
  local trunc = o.truncation
  if trunc == nil then trunc = o.max_length ~= nil end
  if trunc and o.max_length then
    local budget = o.max_length - (b and 3 or 2)
    if budget < 0 then error(("%s: max_length %d is less than the %d special tokens"):format(fn, o.max_length, b and 3 or 2), 3) end
    truncate(a, b, budget, trunc == true and "longest_first" or trunc, fn)
  end
  local ids, types = {cls}, {1}
  for _, id in ipairs(a) do ids[#ids + 1], types[#types + 1] = id, 1 end
  ids[#ids + 1], types[#types + 1] = sep, 1
  if b then
    for _, id in ipairs(b) do ids[#ids + 1], types[#types + 1] = id, 2 end
    ids[#ids + 1], types[#types + 1] = sep, 2
  end
  local mask = {}
  for i = 1, #ids do mask[i] = 1 end
  return {input_ids = ids, token_type_ids = types, attention_mask = mask}
end

-- The options of encode and encode_batch.
local ENCODE = {max_length = "integer", truncation = "boolean|string", padding = "boolean|string"}

local function pad_to(self, e, len, fn)
  local pad = special_id(self, "[PAD]", fn)
  for i = #e.input_ids + 1, len do
    e.input_ids[i], e.token_type_ids[i], e.attention_mask[i] = pad, 1, 0
  end
end

--- encode(text [, pair] [, {max_length, truncation, padding}]) -> {input_ids, token_type_ids,
-- attention_mask} (Lua arrays): [CLS] text [SEP] (pair [SEP]); token types 1 and 2; mask 1
-- for tokens, 0 for padding. With max_length, truncation defaults to "longest_first" (one
-- token at a time from the longer sequence); padding = "max_length" pads to it.
function WordPiece:encode(text, pair, opts)
  if type(pair) == "table" then pair, opts = nil, pair end
  if type(text) ~= "string" then error("encode: text must be a string", 2) end
  local o = options.check("encode", opts, ENCODE)
  local e = encode_one(self, text, pair, o, "encode")
  if o.padding == "max_length" then
    if not o.max_length then error("encode: padding = \"max_length\" needs max_length", 2) end
    pad_to(self, e, o.max_length, "encode")
  end
  return e
end

--- encode_batch(texts [, {max_length, truncation, padding}]) -> {input_ids, token_type_ids,
-- attention_mask} as i64 tensors {B, T}: texts are strings or {text, pair} arrays; padded to
-- the longest (or to max_length with padding = "max_length").
function WordPiece:encode_batch(texts, opts)
  if type(texts) ~= "table" or #texts == 0 then error("encode_batch: texts must be a non-empty array", 2) end
  local o = options.check("encode_batch", opts, ENCODE)
  local rows, longest = {}, 0
  for i, t in ipairs(texts) do
    local text, pair = t, nil
    if type(t) == "table" then text, pair = t[1], t[2] end
    if type(text) ~= "string" then error(("encode_batch: text %d is not a string"):format(i), 2) end
    rows[i] = encode_one(self, text, pair, o, "encode_batch")
    longest = math.max(longest, #rows[i].input_ids)
  end
  local len = o.padding == "max_length" and o.max_length or longest
  local out = {input_ids = {}, token_type_ids = {}, attention_mask = {}}
  for i, e in ipairs(rows) do
    pad_to(self, e, len, "encode_batch")
    for k, v in pairs(e) do out[k][i] = v end
  end
  for k, v in pairs(out) do out[k] = core.tensor(v, "i64") end
  return out
end

--- decode(ids [, {skip_special_tokens = false}]) -> text: tokens joined by spaces, `##`
-- pieces glued to the previous one, and Hugging Face's clean-up of spaces before
-- punctuation and contractions. ids: a Lua array or a 1-D tensor.
function WordPiece:decode(ids, opts)
  if type(ids) ~= "table" then ids = ids:totable() end
  local skip = options.check("decode", opts, {skip_special_tokens = "boolean"}).skip_special_tokens
  local special = {}
  for _, s in ipairs(self.specials) do special[s] = true end
  local toks = {}
  for _, id in ipairs(ids) do
    local t = self.tokens[id]
    if t == nil then error(("decode: id %s is not in the vocabulary (1..%d)"):format(tostring(id), #self.tokens), 2) end
    if not (skip and special[t]) then toks[#toks + 1] = t end
  end
  local s = table.concat(toks, " "):gsub(" " .. self.prefix:gsub("%p", "%%%0"), "")
  for _, r in ipairs {{" %.", "."}, {" %?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
                      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}} do
    s = s:gsub(r[1], r[2])
  end
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- save(path): writes the vocabulary as vocab.txt (one token per line), atomically.
function WordPiece:save(path)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(table.concat(self.tokens, "\n"), "\n")
  f:close()
  local ok, err = os.rename(tmp, path)
  if not ok then error("WordPiece:save: " .. tostring(err), 2) end
end

return {new = new, WordPiece = WordPiece, basic_tokens = basic_tokens, SPECIALS = SPECIALS}
