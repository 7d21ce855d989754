-- train_wordpiece: a WordPiece vocabulary learned from local text, as Hugging Face tokenizers'
-- WordPieceTrainer learns one: BERT's basic tokenization, an alphabet of the characters seen
-- (each also as a `##` continuation), then repeated merges of the most frequent adjacent
-- pair of pieces inside words until the vocabulary has vocab_size tokens.
local wordpiece = require "graft.text.wordpiece"
local options = require "graft.options"

-- A binary max-heap of {count, key}, ties broken by key so that training is deterministic.
local function heap_push(h, count, key)
  h[#h + 1] = {count, key}
  local i = #h
  while i > 1 do
    local p = i // 2
    local a, b = h[p], h[i]
    if a[1] > b[1] or (a[1] == b[1] and a[2] <= b[2]) then break end
    h[p], h[i] = b, a
    i = p
  end
end
local function heap_pop(h)
  local top, last = h[1], h[#h]
  h[#h] = nil
  if #h > 0 then
    h[1] = last
    local i, n = 1, #h
    while true do
      local l, r, best = 2 * i, 2 * i + 1, i
      local function better(x, y) return h[x][1] > h[y][1] or (h[x][1] == h[y][1] and h[x][2] < h[y][2]) end
      if l <= n and better(l, best) then best = l end
      if r <= n and better(r, best) then best = r end
      if best == i then break end
      h[i], h[best] = h[best], h[i]
      i = best
    end
  end
  return top
end

local SEP = "\0"

-- Counts the words of the corpus (an array of strings, a file path: one document per line,
-- or an iterator function returning strings).
local function count_words(corpus, o)
  local counts = {}
  local function add(text)
    for _, w in ipairs(wordpiece.basic_tokens(text, o, {})) do counts[w] = (counts[w] or 0) + 1 end
  end
  if type(corpus) == "string" then
    local f, err = io.open(corpus, "rb")
    if not f then error("train_wordpiece: " .. err, 3) end
    for line in f:lines() do add(line) end
    f:close()
  elseif type(corpus) == "function" then
    for text in corpus do add(text) end
  elseif type(corpus) == "table" then
    for _, text in ipairs(corpus) do add(text) end
  else
    error("train_wordpiece: corpus must be an array of strings, a file path or an iterator", 3)
  end
  return counts
end

--- train_wordpiece(corpus, vocab_size [, opts]) -> WordPiece: opts `{lowercase = true,
-- strip_accents, min_frequency = 2, special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
-- "[MASK]"}, output = path}` (output: the vocab.txt to write). Special tokens take ids 1...
return function(corpus, vocab_size, opts)
  opts = options.check("train_wordpiece", opts, {lowercase = "boolean", strip_accents = "boolean", min_frequency = "integer",
                                                 special_tokens = "table", output = "string"})
  if math.type(vocab_size) ~= "integer" or vocab_size < 1 then error("train_wordpiece: vocab_size must be a positive integer", 2) end
  local o = {lowercase = opts.lowercase ~= false}
  o.strip_accents = opts.strip_accents
  if o.strip_accents == nil then o.strip_accents = o.lowercase end
  local min_freq = opts.min_frequency or 2
  local counts = count_words(corpus, o)

  local vocab, seen = {}, {}
  local function add_token(t) if not seen[t] then seen[t] = true vocab[#vocab + 1] = t end end
  for _, s in ipairs(opts.special_tokens or wordpiece.SPECIALS) do add_token(s) end

  -- words as arrays of pieces; the alphabet in order of first appearance, sorted for determinism
  local words, freq, alphabet = {}, {}, {}
  local names = {}
  for w in pairs(counts) do names[#names + 1] = w end
  table.sort(names)
  for _, w in ipairs(names) do
    local pieces, first = {}, true
    for _, c in utf8.codes(w) do
      local ch = utf8.char(c)
      pieces[#pieces + 1] = first and ch or "##" .. ch
      alphabet[pieces[#pieces]] = true
      first = false
    end
    words[#words + 1], freq[#words + 1] = pieces, counts[w]
  end
  local letters = {}
  for a in pairs(alphabet) do letters[#letters + 1] = a end
  table.sort(letters)
  for _, a in ipairs(letters) do add_token(a) end

  -- pair counts and the words holding each pair
  local pair_count, where, heap = {}, {}, {}
  local function add_pairs(i, sign)
    local p = words[i]
    for j = 1, #p - 1 do
      local key = p[j] .. SEP .. p[j + 1]
      pair_count[key] = (pair_count[key] or 0) + sign * freq[i]
      if sign > 0 then
        local set = where[key]
        if not set then set = {} where[key] = set end
        set[i] = true
      end
    end
  end
  for i = 1, #words do add_pairs(i, 1) end
  for key, c in pairs(pair_count) do heap_push(heap, c, key) end

  while #vocab < vocab_size and #heap > 0 do
    local top = heap_pop(heap)
    local key, c = top[2], top[1]
    if pair_count[key] == c and c >= min_freq then
      local a, b = key:match("^(.-)" .. SEP .. "(.*)$")
      local merged = a .. b:gsub("^##", "")
      add_token(merged)
      local touched = {}
      for i in pairs(where[key]) do
        local p = words[i]
        local has = false
        for j = 1, #p - 1 do if p[j] == a and p[j + 1] == b then has = true break end end
        if has then
          add_pairs(i, -1)
          local q, j = {}, 1
          while j <= #p do
            if j < #p and p[j] == a and p[j + 1] == b then q[#q + 1] = merged j = j + 2
            else q[#q + 1] = p[j] j = j + 1 end
          end
          words[i] = q
          add_pairs(i, 1)
          touched[#touched + 1] = i
        end
      end
      where[key] = nil
      pair_count[key] = nil
      -- the counts that changed go back on the heap (stale entries are skipped when popped)
      local changed = {}
      for _, i in ipairs(touched) do
        local p = words[i]
        for j = 1, #p - 1 do changed[p[j] .. SEP .. p[j + 1]] = true end
      end
      for k in pairs(changed) do
        if pair_count[k] and pair_count[k] > 0 then heap_push(heap, pair_count[k], k) end
      end
    elseif pair_count[key] == c and c < min_freq then
      break   -- the most frequent pair is too rare: nothing more to learn
    end
  end
  local tok = wordpiece.new(vocab, {lowercase = o.lowercase, strip_accents = o.strip_accents})
  if opts.output then tok:save(opts.output) end
  return tok
end
