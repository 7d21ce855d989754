-- BERT (Devlin et al. 2019) as Hugging Face transformers builds it: BertModel and
-- BertForSequenceClassification with their state-dict keys, config.json, initialisation and
-- numerics (erf GELU, LayerNorm eps from the config, an additive padding mask). Token ids are
-- 1-based (vocabulary line n is id n), token type ids 1 and 2, the attention mask 1/0.
-- Attention-probability dropout is not applied (hidden dropout is): the fused attention
-- kernel keeps no mask for it.
local core = require "graft.core"
local nn = require "graft.nn"
local F = require "graft.functional"
local json = require "graft.json"
local A = require "graft.autograd"
local options = require "graft.options"
local T = core.Tensor
local tensor_mt = getmetatable(core.empty(0))
local function is_tensor(x) return getmetatable(x) == tensor_mt end

-- Hugging Face's BertConfig defaults (bert-base-uncased).
local DEFAULTS = {
  vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12, num_attention_heads = 12,
  intermediate_size = 3072, hidden_act = "gelu", hidden_dropout_prob = 0.1,
  attention_probs_dropout_prob = 0.1, max_position_embeddings = 512, type_vocab_size = 2,
  initializer_range = 0.02, layer_norm_eps = 1e-12, pad_token_id = 0,
  position_embedding_type = "absolute",
}

local function gelu_tanh(x)   -- "gelu_new": the tanh approximation of GPT-2 and the original BERT code
  return x * 0.5 * (F.tanh((x + x:pow(3) * 0.044715) * math.sqrt(2 / math.pi)) + 1)
end
local ACTIVATIONS = {gelu = F.gelu, relu = F.relu, silu = F.silu, swish = F.silu, gelu_new = gelu_tanh,
                     gelu_pytorch_tanh = gelu_tanh, gelu_fast = gelu_tanh}

-- The config as a table: config.json's values over the defaults (JSON nulls dropped).
local function read_config(c, who)
  if type(c) == "string" then
    local f, err = io.open(c, "rb")
    if not f then error(("%s: config %s: %s"):format(who, c, err), 4) end
    local text = f:read("a")
    f:close()
    local ok, decoded = pcall(json.decode, text)
    if not ok or type(decoded) ~= "table" then error(("%s: config %s is not a JSON object"):format(who, c), 4) end
    c = decoded
  elseif type(c) ~= "table" then
    error(who .. ": config must be a config.json path or its table", 4)
  end
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = v end
  for k, v in pairs(c) do if v ~= json.null then cfg[k] = v end end
  if not ACTIVATIONS[cfg.hidden_act] then
    error(("%s: hidden_act %q is not supported (gelu, gelu_new, relu, silu)"):format(who, tostring(cfg.hidden_act)), 4)
  end
  if cfg.position_embedding_type ~= "absolute" then
    error(("%s: position_embedding_type %q is not supported (absolute)"):format(who, tostring(cfg.position_embedding_type)), 4)
  end
  if cfg.hidden_size % cfg.num_attention_heads ~= 0 then
    error(("%s: hidden_size %d is not a multiple of num_attention_heads %d"):format(who, cfg.hidden_size,
      cfg.num_attention_heads), 4)
  end
  return cfg
end

local function init_linear(m, std)
  A.no_grad(function()
    T.normal_(m.weight, 0, std)
    if m.bias then T.zero_(m.bias) end
    if m.padding_idx then T.zero_(T.select(m.weight, 1, m.padding_idx)) end
  end)
end

return function(models)
  local Embeddings = nn.Module:extend "BertEmbeddings"
  function Embeddings:init(c)
    self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, {padding_idx = c.pad_token_id + 1})
    self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
    self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
    self.LayerNorm = nn.LayerNorm(c.hidden_size, {eps = c.layer_norm_eps})
    self.dropout = nn.Dropout(c.hidden_dropout_prob)
  end
  function Embeddings:forward(ids, token_types)
    local len = T.size(ids, 2)
    local positions = core.arange(1, len + 1)
    local x = self.word_embeddings(ids) + self.token_type_embeddings(token_types) + self.position_embeddings(positions)
    return self.dropout(self.LayerNorm(x))
  end

  local SelfAttention = nn.Module:extend "BertSelfAttention"
  function SelfAttention:init(c)
    rawset(self, "heads", c.num_attention_heads)
    self.query = nn.Linear(c.hidden_size, c.hidden_size)
    self.key = nn.Linear(c.hidden_size, c.hidden_size)
    self.value = nn.Linear(c.hidden_size, c.hidden_size)
  end
  function SelfAttention:forward(x, mask)
    local b, len, h = T.size(x, 1), T.size(x, 2), T.size(x, 3)
    local function split(t) return T.transpose(T.view(t, b, len, self.heads, h // self.heads), 2, 3) end
    local y = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), {mask = mask})
    return T.reshape(T.transpose(y, 2, 3), b, len, h)   -- stored {B, T, H, D}: no copy
  end

  -- dense -> dropout -> LayerNorm(+ residual): the output of attention and of the block.
  local Output = nn.Module:extend "BertOutput"
  function Output:init(cin, c)
    self.dense = nn.Linear(cin, c.hidden_size)
    self.LayerNorm = nn.LayerNorm(c.hidden_size, {eps = c.layer_norm_eps})
    self.dropout = nn.Dropout(c.hidden_dropout_prob)
  end
  function Output:forward(x, residual) return self.LayerNorm(self.dropout(self.dense(x)) + residual) end

  local Attention = nn.Module:extend "BertAttention"
  function Attention:init(c)
    self.self = SelfAttention(c)
    self.output = Output(c.hidden_size, c)
  end
  function Attention:forward(x, mask) return self.output(self.self(x, mask), x) end

  local Intermediate = nn.Module:extend "BertIntermediate"
  function Intermediate:init(c)
    rawset(self, "act", ACTIVATIONS[c.hidden_act])
    self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
  end
  function Intermediate:forward(x) return self.act(self.dense(x)) end

  local Layer = nn.Module:extend "BertLayer"
  function Layer:init(c)
    self.attention = Attention(c)
    self.intermediate = Intermediate(c)
    self.output = Output(c.intermediate_size, c)
  end
  function Layer:forward(x, mask)
    local a = self.attention(x, mask)
    return self.output(self.intermediate(a), a)
  end

  local Encoder = nn.Module:extend "BertEncoder"
  function Encoder:init(c)
    self.layer = nn.ModuleList()
    for _ = 1, c.num_hidden_layers do self.layer:add(Layer(c)) end
  end
  function Encoder:forward(x, mask)
    for _, l in ipairs(self.layer:named_children()) do x = l[2](x, mask) end
    return x
  end

  local Pooler = nn.Module:extend "BertPooler"
  function Pooler:init(c) self.dense = nn.Linear(c.hidden_size, c.hidden_size) end
  function Pooler:forward(h) return F.tanh(self.dense(T.select(h, 2, 1))) end

  -- input_ids and the options, from either (ids, {attention_mask, token_type_ids}) or one
  -- batch table {input_ids = ..., attention_mask = ..., token_type_ids = ...}.
  local function inputs(ids, opts, c)
    if type(ids) == "table" and not is_tensor(ids) then ids, opts = ids.input_ids, ids end
    if not is_tensor(ids) or T.dim(ids) ~= 2 or T.dtype(ids) ~= "i64" then
      error("input_ids must be an i64 tensor {batch, tokens}", 0)
    end
    local len = T.size(ids, 2)
    if len > c.max_position_embeddings then
      error(("%d tokens is more than max_position_embeddings (%d)"):format(len, c.max_position_embeddings), 0)
    end
    opts = opts or {}
    local mask, types = opts.attention_mask, opts.token_type_ids
    for name, t in pairs {attention_mask = mask, token_type_ids = types} do
      if not is_tensor(t) or T.dim(t) ~= 2 or T.size(t, 1) ~= T.size(ids, 1) or T.size(t, 2) ~= len then
        error(("%s must be a tensor {%d, %d} like input_ids"):format(name, T.size(ids, 1), len), 0)
      end
    end
    return ids, mask, types or core.ones({T.size(ids, 1), len}, "i64")
  end

  --- BertModel: embeddings, encoder and pooler with Hugging Face's keys (no prefix).
  -- @type Bert
  local Bert = models.ZooModel:extend "Bert"
  function Bert:init(c)
    rawset(self, "bert_config", c)
    rawset(self, "num_features", c.hidden_size)
    self.embeddings = Embeddings(c)
    self.encoder = Encoder(c)
    self.pooler = Pooler(c)
    self:reset_parameters()
  end
  --- forward(input_ids [, {attention_mask, token_type_ids}]) -> last_hidden_state {B, T, H}, pooled {B, H}.
  -- The options of forward and forward_features (a batch table in place of the ids is data:
  -- its other fields are ignored).
  local FORWARD = {attention_mask = "tensor", token_type_ids = "tensor"}
  local FEATURES = {attention_mask = "tensor", token_type_ids = "tensor", pool = "string"}
  function Bert:forward(ids, opts)
    if is_tensor(ids) then options.check("bert", opts, FORWARD) end
    local mask, types
    ids, mask, types = inputs(ids, opts, self.bert_config)
    local h = self.encoder(self.embeddings(ids, types), mask)
    return h, self.pooler(h)
  end
  -- Hugging Face's _init_weights: N(0, initializer_range) for linear and embedding weights
  -- (padding row zero), zero biases, LayerNorm 1 and 0.
  function Bert:reset_parameters()
    local std = self.bert_config.initializer_range
    for _, m in ipairs(self:named_modules()) do
      local mod = m[2]
      if mod.__name == "nn.Linear" or mod.__name == "nn.Embedding" then
        init_linear(mod, std)
      elseif mod.__name == "nn.LayerNorm" then
        mod:reset_parameters()
      end
    end
  end

  -- The sentence representation: "pooler" (what the classifier reads: tanh(dense([CLS]))),
  -- "cls" (the [CLS] token's last hidden state) or "mean" (the mean over real tokens).
  local function pool(self, ids, opts)
    opts = opts or {}
    local how = opts.pool or (type(ids) == "table" and ids.pool) or "pooler"
    if is_tensor(ids) then options.check("forward_features", opts, FEATURES) end
    local h, pooled = Bert.forward(self, ids, {attention_mask = opts.attention_mask, token_type_ids = opts.token_type_ids})
    if how == "pooler" then return pooled end
    if how == "cls" then return T.select(h, 2, 1) end
    if how ~= "mean" and how ~= "avg" then
      error(("forward_features: pool must be \"pooler\", \"cls\" or \"mean\", not %q"):format(tostring(how)), 3)
    end
    local _, mask = inputs(ids, opts, self.bert_config)
    if not mask then return T.mean(h, 2) end
    local m = T.unsqueeze(T.to(mask, "f32"), 3)
    return T.sum(h * m, 2) / T.sum(m, 2)
  end
  --- forward_features(input_ids [, {attention_mask, token_type_ids, pool}]) -> {B, H}: pool
  -- "pooler" (default, the classifier's input), "cls" or "mean" ("avg": over unmasked tokens).
  function Bert:forward_features(ids, opts) return pool(self, ids, opts) end

  -- set_tokenizer(tok [, {max_length}]): the tokenizer this model reads text with.
  -- graft.save_model stores its vocabulary and options with the model, graft.load_model
  -- restores it, and graft.predict then takes strings. max_length (default: the model's
  -- max_position_embeddings) is where predict truncates; fit sets both from a
  -- TextClassification data set.
  local function set_tokenizer(self, c, tok, opts)
    if type(tok) ~= "table" or type(tok.tokens) ~= "table" or type(tok.encode_batch) ~= "function" then
      error("set_tokenizer: tok must be a graft.text.WordPiece", 3)
    end
    for k in pairs(opts or {}) do
      if k ~= "max_length" then error(("set_tokenizer: unknown option %q (options: max_length)"):format(tostring(k)), 3) end
    end
    local max_length = opts and opts.max_length or c.max_position_embeddings
    if type(max_length) ~= "number" or max_length % 1 ~= 0 or max_length < 3 or max_length > c.max_position_embeddings then
      error(("set_tokenizer: max_length must be an integer from 3 to max_position_embeddings (%d)"):format(
        c.max_position_embeddings), 3)
    end
    if #tok.tokens > c.vocab_size then
      error(("set_tokenizer: the vocabulary has %d tokens, more than the model's vocab_size (%d)"):format(#tok.tokens,
        c.vocab_size), 3)
    end
    rawset(self, "tokenizer", tok)
    local cfg = rawget(self, "config")
    if cfg then
      cfg.tokenizer = {type = "WordPiece", max_length = max_length, lowercase = tok.lowercase,
                       strip_accents = tok.strip_accents, unk_token = tok.unk_token, prefix = tok.prefix,
                       max_chars = tok.max_chars}
    end
    return self
  end
  --- set_tokenizer(tok [, {max_length}]): the WordPiece tokenizer the model reads text with,
  -- kept by save_model / load_model; graft.predict then takes strings. max_length defaults
  -- to max_position_embeddings.
  function Bert:set_tokenizer(tok, opts) return set_tokenizer(self, self.bert_config, tok, opts) end

  --- BertForSequenceClassification: `bert.*` (a Bert) and `classifier.*` (the head).
  -- @type BertClassifier
  local Classifier = models.ZooModel:extend "BertClassifier"
  Classifier.head_path = "classifier"
  function Classifier:init(c, num_classes)
    rawset(self, "num_features", c.hidden_size)
    self.bert = Bert(c)
    self.dropout = nn.Dropout(c.classifier_dropout or c.hidden_dropout_prob)
    self:reset_classifier(num_classes)
  end
  --- forward(input_ids [, {attention_mask, token_type_ids}]) -> logits {B, num_classes}.
  function Classifier:forward(ids, opts)
    local _, pooled = self.bert(ids, opts)
    return self.classifier(self.dropout(pooled))
  end
  function Classifier:forward_features(ids, opts) return self.bert:forward_features(ids, opts) end
  --- set_tokenizer(tok [, {max_length}]): as Bert's.
  function Classifier:set_tokenizer(tok, opts) return set_tokenizer(self, self.bert.bert_config, tok, opts) end
  --- reset_classifier(n): a fresh head with n outputs, initialised as Hugging Face does.
  function Classifier:reset_classifier(n)
    local head = models.ZooModel.reset_classifier(self, n)
    if n > 0 then init_linear(head, self.bert.bert_config.initializer_range) end
    return head
  end
  function Classifier:reset_parameters()
    self.bert:reset_parameters()
    self:reset_classifier(T.size(self.classifier.weight, 1))
  end

  -- A Hugging Face checkpoint's keys as this model names them. Pretraining heads (cls.*),
  -- position_ids buffers and a classifier the model lacks are skipped; LayerNorm.gamma/beta
  -- (old TensorFlow conversions) become weight/bias; a `bert.` prefix is added or removed
  -- as the model needs. Returns the renamed dict and notes on what was skipped.
  local function adapt(model, sd)
    local own = model:state_dict()
    local wants_prefix = own["bert.embeddings.word_embeddings.weight"] ~= nil
    local out, skipped = {}, {}
    local function skip(why) skipped[why] = (skipped[why] or 0) + 1 end
    for k, v in pairs(sd) do
      local key = k:gsub("LayerNorm%.gamma$", "LayerNorm.weight"):gsub("LayerNorm%.beta$", "LayerNorm.bias")
      if key:match("^cls%.") then
        skip("cls.* (pretraining heads)")
      elseif key:match("position_ids$") then
        skip("position_ids (buffers)")
      elseif key:match("^classifier%.") then
        if wants_prefix then out[key] = v else skip("classifier.* (a classification head)") end
      else
        key = key:gsub("^bert%.", "")
        out[wants_prefix and "bert." .. key or key] = v
      end
    end
    local notes = {}
    for why, n in pairs(skipped) do notes[#notes + 1] = ("skipped %d %s"):format(n, why) end
    table.sort(notes)
    return out, notes
  end

  -- Loads a checkpoint: strict, except that a missing pooler (masked-LM checkpoints have none)
  -- and a missing or differently sized classifier keep their fresh weights, with a note.
  local function load_weights(model, sd)
    local incoming, notes = adapt(model, sd)
    local own = model:state_dict()
    local pre = own["bert.embeddings.word_embeddings.weight"] and "bert." or ""
    local head = incoming["classifier.weight"]
    if head and own["classifier.weight"] and T.size(head, 1) ~= T.size(own["classifier.weight"], 1) then
      incoming["classifier.weight"], incoming["classifier.bias"] = nil, nil
      notes[#notes + 1] = ("a fresh classifier (the checkpoint's has %d classes)"):format(T.size(head, 1))
    end
    local missing, unexpected = model:load_state_dict(incoming, {strict = false})
    local really = {}
    for _, k in ipairs(missing) do
      if k:sub(1, #pre + 7) == pre .. "pooler." then
        if k:match("weight$") then notes[#notes + 1] = "a fresh pooler (the checkpoint has none)" end
      elseif k:match("^classifier%.") then
        if k:match("weight$") and head == nil then notes[#notes + 1] = "a fresh classifier (the checkpoint has none)" end
      else
        really[#really + 1] = k
      end
    end
    if #really > 0 or #unexpected > 0 then
      local function list(t) return #t > 8 and table.concat(t, ", ", 1, 8) .. (", ... (%d in all)"):format(#t) or table.concat(t, ", ") end
      error(("not a BERT checkpoint for this config: %s%s"):format(
        #really > 0 and "missing " .. list(really) or "", #unexpected > 0 and (#really > 0 and "; " or "") .. "unexpected " .. list(unexpected) or ""), 0)
    end
    return notes
  end

  -- bert{config, weights} and bert_classifier{config, num_classes, weights}: the config is
  -- kept decoded in the model's own config, so save_model / load_model need no other file.
  local CONSTRUCTOR = {config = "string|table", weights = "string|table", verbose = "boolean", classes = "table"}
  local function constructor(name, build, extra)
    local spec = options.merge(CONSTRUCTOR, extra)
    return function(opts)
      opts = options.check(name, opts, spec)
      if opts.config == nil then error(name .. ": config is required (a config.json path or its table)", 2) end
      local c = read_config(opts.config, name)
      local m, args = build(c, opts)
      args.config = {}
      for k, v in pairs(c) do args.config[k] = v end
      rawset(m, "config", {arch = name, args = args, classes = opts.classes})
      if opts.weights then
        local ok, notes = pcall(function()
          local sd = type(opts.weights) == "table" and opts.weights or (require "graft").load(opts.weights)
          return load_weights(m, sd)
        end)
        if not ok then
          local err = tostring(notes):gsub("^[^:]*:%d+: ", "")
          local src = type(opts.weights) == "string" and opts.weights or "state dict"
          error(err:find(src, 1, true) and err or ("%s: weights %s: %s"):format(name, src, err), 2)
        end
        rawset(m, "load_notes", notes)
        if #notes > 0 and opts.verbose ~= false then
          require("graft.runtime").warn(("%s: %s"):format(name, table.concat(notes, "; ")))
        end
      end
      return m
    end
  end

  models.register_custom("bert", constructor("bert", function(c) return Bert(c), {} end), CONSTRUCTOR)
  models.register_custom("bert_classifier", constructor("bert_classifier", function(c, opts)
    local n = opts.num_classes
    if n == nil then
      local labels = 0
      for _ in pairs(c.id2label or {}) do labels = labels + 1 end
      n = c.num_labels or (labels > 0 and labels) or 2
    end
    return Classifier(c, n), {num_classes = n}
  end, {num_classes = "integer"}), options.merge(CONSTRUCTOR, {num_classes = "integer"}))
  models.Bert, models.BertClassifier = Bert, Classifier
end
