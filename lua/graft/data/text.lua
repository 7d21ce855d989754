-- graft.data.TextClassification: labelled text from CSV, TSV or JSON-lines files. Each item
-- is a text (and optionally a second text of a pair) and a class; with a tokenizer, the
-- loader's batches are {input_ids, token_type_ids, attention_mask} padded to the batch's
-- longest item, ready for graft.models.bert_classifier.
local core = require "graft.core"
local json = require "graft.json"
local options = require "graft.options"

local T = core.Tensor

-- RFC 4180 records: fields separated by delim, "quoted" fields may hold delimiters, line
-- breaks and doubled quotes. Returns an array of records (arrays of strings).
local function parse_delimited(text, delim, path)
  local records, record, field = {}, {}, {}
  local i, n, line = 1, #text, 1
  local function end_field() record[#record + 1] = table.concat(field) field = {} end
  local function end_record()
    end_field()
    if not (#record == 1 and record[1] == "") then records[#records + 1] = record end
    record = {}
  end
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' and #field == 0 then
      local j = i + 1
      while true do
        local q = text:find('"', j, true)
        if not q then error(("TextClassification: %s: line %d: a quoted field is not closed"):format(path, line), 0) end
        field[#field + 1] = text:sub(j, q - 1)
        if text:sub(q + 1, q + 1) == '"' then field[#field + 1] = '"' j = q + 2 else i = q + 1 break end
      end
      local _, breaks = table.concat(field):gsub("\n", "")
      line = line + breaks
    elseif c == delim then
      end_field()
      i = i + 1
    elseif c == "\n" or c == "\r" then
      end_record()
      line = line + 1
      i = i + ((c == "\r" and text:sub(i + 1, i + 1) == "\n") and 2 or 1)
    else
      local j = text:find("[" .. (delim == "\t" and "\t" or delim) .. "\r\n]", i) or n + 1
      field[#field + 1] = text:sub(i, j - 1)
      i = j
    end
  end
  if #field > 0 or #record > 0 then end_record() end
  return records
end

local function read_rows(path, format, delim)
  local f, err = io.open(path, "rb")
  if not f then error("TextClassification: " .. err, 0) end
  local text = f:read("a")
  f:close()
  text = text:gsub("^\239\187\191", "")   -- a UTF-8 byte-order mark
  if format == "jsonl" then
    local rows, line = {}, 0
    for l in (text .. "\n"):gmatch("([^\n]*)\n") do
      line = line + 1
      if l:match("%S") then
        local ok, v = pcall(json.decode, l)
        if not ok or type(v) ~= "table" then
          error(("TextClassification: %s: line %d is not a JSON object"):format(path, line), 0)
        end
        rows[#rows + 1] = v
      end
    end
    return rows
  end
  local records = parse_delimited(text, delim, path)
  if #records == 0 then error(("TextClassification: %s is empty"):format(path), 0) end
  local header, rows = records[1], {}
  for r = 2, #records do
    local rec = records[r]
    if #rec ~= #header then
      error(("TextClassification: %s: record %d has %d fields, the header %d"):format(path, r, #rec, #header), 0)
    end
    local row = {}
    for k, name in ipairs(header) do row[name] = rec[k] end
    rows[#rows + 1] = row
  end
  return rows
end

local TextClassification = {__name = "data.TextClassification"}
TextClassification.__index = TextClassification
TextClassification.__len = function(self) return #self.texts end

--- TextClassification(path [, opts]): opts `{text = "text", label = "label", text_pair,
-- format ("csv", "tsv" or "jsonl"; default from the extension), classes (the class names in
-- label order; default: the labels seen, sorted, numerically when all are numbers),
-- tokenizer (a graft.text.WordPiece), max_length = 128}`. CSV and TSV files have a header
-- row naming the columns. ds:get(i) is text (or {text, pair}), label (1-based).
function TextClassification.new(path, opts)
  opts = options.check("TextClassification", opts, {text = "string", label = "string", text_pair = "string", format = "string",
                                                    classes = "table", tokenizer = "table", max_length = "integer"})
  local format = opts.format or (path:match("%.tsv$") and "tsv") or ((path:match("%.jsonl?$")) and "jsonl") or "csv"
  if format ~= "csv" and format ~= "tsv" and format ~= "jsonl" then
    error(('TextClassification: format must be "csv", "tsv" or "jsonl", not %q'):format(tostring(format)), 2)
  end
  local rows = read_rows(path, format, format == "tsv" and "\t" or ",")
  local tcol, lcol, pcol = opts.text or "text", opts.label or "label", opts.text_pair
  local self = setmetatable({path = path, texts = {}, pairs = pcol and {} or nil, names = {}, targets = {},
                             tokenizer = opts.tokenizer, max_length = opts.max_length or 128, _encoded = {}},
                            TextClassification)
  for r, row in ipairs(rows) do
    local t, l = row[tcol], row[lcol]
    if type(t) ~= "string" then error(("TextClassification: %s: row %d has no text column %q"):format(path, r, tcol), 2) end
    if l == nil or l == json.null then error(("TextClassification: %s: row %d has no label column %q"):format(path, r, lcol), 2) end
    self.texts[r], self.names[r] = t, tostring(l)
    if pcol then
      if type(row[pcol]) ~= "string" then error(("TextClassification: %s: row %d has no column %q"):format(path, r, pcol), 2) end
      self.pairs[r] = row[pcol]
    end
  end
  local classes = opts.classes
  if not classes then
    local seen, numeric = {}, true
    classes = {}
    for _, name in ipairs(self.names) do
      if not seen[name] then seen[name] = true classes[#classes + 1] = name numeric = numeric and tonumber(name) ~= nil end
    end
    table.sort(classes, numeric and function(a, b) return tonumber(a) < tonumber(b) end or nil)
  end
  local index = {}
  for i, name in ipairs(classes) do index[tostring(name)] = i end
  for r, name in ipairs(self.names) do
    self.targets[r] = index[name] or error(("TextClassification: %s: row %d's label %q is not one of the classes"):format(path, r, name), 2)
  end
  self.classes = classes
  return self
end

function TextClassification:len() return #self.texts end
function TextClassification:label(i) return self.targets[i] end
function TextClassification:get(i)
  return self.pairs and {self.texts[i], self.pairs[i]} or self.texts[i], self.targets[i]
end

-- The loader's batch: items tokenized once (cached), padded to the batch's longest.
function TextClassification:_batch(idx)
  local tok = self.tokenizer
  if not tok then error("TextClassification: give it a tokenizer (opts.tokenizer) to make batches", 0) end
  local rows, longest, labels = {}, 0, {}
  for k, i in ipairs(T.totable(idx)) do
    local e = self._encoded[i]
    if not e then
      e = tok:encode(self.texts[i], self.pairs and self.pairs[i] or nil, {max_length = self.max_length})
      self._encoded[i] = e
    end
    rows[k], labels[k] = e, self.targets[i]
    longest = math.max(longest, #e.input_ids)
  end
  local pad = tok:id("[PAD]") or error("TextClassification: the tokenizer has no [PAD] token", 0)
  local out = {input_ids = {}, token_type_ids = {}, attention_mask = {}}
  for k, e in ipairs(rows) do
    local ids, types, mask = {}, {}, {}
    for t = 1, longest do
      ids[t] = e.input_ids[t] or pad
      types[t] = e.token_type_ids[t] or 1
      mask[t] = e.attention_mask[t] or 0
    end
    out.input_ids[k], out.token_type_ids[k], out.attention_mask[k] = ids, types, mask
  end
  for key, v in pairs(out) do out[key] = core.tensor(v, "i64") end
  return out, core.tensor(labels, "i64")
end

-- Changes when the texts, labels or tokenization would.
function TextClassification:fingerprint()
  local h = core.fingerprint(("text|%s|%d"):format(self.path, self.max_length))
  for i, t in ipairs(self.texts) do
    h = core.fingerprint(("%s\1%s\1%d"):format(t, self.pairs and self.pairs[i] or "", self.targets[i]), h)
  end
  if self.tokenizer then h = core.fingerprint(table.concat(self.tokenizer.tokens, "\n"), h) end
  return h
end

setmetatable(TextClassification, {__call = function(cls, ...) return cls.new(...) end})
return TextClassification
