#!/usr/bin/env lua5.4
-- tests/345-text-model.t — a text classifier keeps what it needs to read text: fit on a
-- TextClassification data set gives the model its tokenizer, max_length and class names;
-- graft.save_model stores them (config.tokenizer and the vocabulary in graft.vocab) in a file
-- graft.load and PyTorch read as ever; graft.load_model restores a model that carries its
-- tokenizer; graft.predict takes strings and returns {classes, probs} per text. An image
-- path given to a text model, a string that is no file given to an image model, and a text
-- model without a tokenizer are errors that say so.
local T, graft, oracle = require "tap", require "graft", require "oracle"
local json = require "graft.json"
graft.manual_seed(T.seed())
local dir = oracle.tmpname()
assert(os.execute("mkdir -p " .. dir))

local vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "plot", "was", "good", "great", "bad",
               "awful", "film", "acting", "and", "##s", "not", "café", "cafe", "!", "."}
-- lower-casing without accent stripping: not the defaults, so that the options must travel
local tok = graft.text.WordPiece(vocab, {lowercase = true, strip_accents = false})
local config = {vocab_size = 30, hidden_size = 16, num_hidden_layers = 1, num_attention_heads = 2,
                intermediate_size = 32, max_position_embeddings = 24, hidden_dropout_prob = 0}

local csv = dir .. "/reviews.csv"
local f = assert(io.open(csv, "w"))
f:write("text,label\n")
local rows = {{"the movie was good", "pos"}, {"the plot was awful", "neg"}, {"great acting and a good plot", "pos"},
              {"bad film", "neg"}, {"the film was great!", "pos"}, {"awful acting.", "neg"}, {"good good good", "pos"},
              {"not good, bad", "neg"}}
for _, r in ipairs(rows) do f:write(("%q,%s\n"):format(r[1], r[2])) end
f:close()
local train = graft.data.TextClassification(csv, {tokenizer = tok, max_length = 16})

local model = graft.models.bert_classifier{config = config, num_classes = 2}
graft.fit(model, graft.data.Loader(train, {batch_size = 4, shuffle = true, seed = 1}), {epochs = 2, progress = false, lr = 1e-3})
T.ok(rawget(model, "tokenizer") == tok, "fit on a TextClassification data set gives the model its tokenizer")
T.is_deeply(model.config.classes, {"neg", "pos"}, "and its class names")
T.is(model.config.tokenizer.max_length, 16, "and its max_length")

local texts = {"The movie was GOOD", "the plot was awful and the acting bad", "café"}
local function direct(m)
  return graft.transfer.inference(m, function()
    return graft.F.softmax(m(tok:encode_batch(texts, {max_length = 16})), 2)
  end)
end
local want = direct(model):totable()
local p = graft.predict(model, texts, {topk = 2})
T.is(#p, 3, "predict on three strings: three results")
local ok = true
for i = 1, 3 do
  local names = p[i].classes
  ok = ok and ((names[1] == "neg" and names[2] == "pos") or (names[1] == "pos" and names[2] == "neg"))
  local idx = names[1] == "neg" and 1 or 2
  ok = ok and math.abs(p[i].probs[1] - want[i][idx]) < 1e-6 and p[i].probs[1] >= p[i].probs[2]
end
T.ok(ok, "each {classes, probs}: the class names, the softmax of the model's logits on the tokenized text")
local single = graft.predict(model, "the movie was good")
T.is(#single, 1, "a single string is one text")

-- save_model / load_model
local path = dir .. "/reviews-bert.safetensors"
graft.save_model(model, path)
local tensors, meta = graft.load(path)
local n = 0
for _ in pairs(tensors) do n = n + 1 end
local own = 0
for _ in pairs(model:state_dict()) do own = own + 1 end
T.is(n, own, "graft.load reads the file: the state dict, nothing added to it")
T.is_deeply(json.decode(meta["graft.vocab"]), vocab, "the vocabulary is in the metadata (graft.vocab)")
local back = graft.load_model(path)
T.is_deeply(back.tokenizer.tokens, vocab, "load_model: the model carries its tokenizer")
T.ok(back.tokenizer.lowercase == true and back.tokenizer.strip_accents == false, "with its options (lowercase, strip_accents)")
T.is_deeply(back.config.classes, {"neg", "pos"}, "and the class names")
T.is_deeply(back.tokenizer:tokenize("Café FILMS"), {"café", "film", "##s"}, "it tokenizes as the original")
local again = graft.predict(back, texts, {topk = 2})
local same = true
for i = 1, 3 do
  same = same and again[i].classes[1] == p[i].classes[1] and math.abs(again[i].probs[1] - p[i].probs[1]) < 1e-6
end
T.ok(same, "the loaded model predicts as the trained one")
local seen
local h = back:register_forward_hook(function(_, inputs) seen = inputs[1].input_ids:size(2) end)
graft.predict(back, {("good "):rep(40)})
h.remove()
T.is(seen, 16, "predict truncates at max_length")

-- PyTorch reads the same file: the state dict strictly into Hugging Face's
-- BertForSequenceClassification, the vocabulary from the metadata
local batch = tok:encode_batch(texts, {max_length = 16})
local torch = oracle.run(([[
import json, struct, hf_bert
c = hf_bert.Config(**json.loads(%q))
m = hf_bert.BertForSequenceClassification(c)
m.load_state_dict(load(%q), strict=True)
m.eval()
with open(%q, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n))["__metadata__"]
vocab = json.loads(meta["graft.vocab"])
cfg = json.loads(meta["graft.config"])
out["vocab_size"] = torch.tensor(len(vocab))
out["max_length"] = torch.tensor(cfg["tokenizer"]["max_length"])
out["probs"] = torch.softmax(m(inp["ids"] - 1, inp["mask"], inp["types"] - 1), 1).detach()
]]):format(json.encode(back.config.args.config), path, path),
  {ids = batch.input_ids, mask = batch.attention_mask, types = batch.token_type_ids})
T.is(torch.vocab_size:item(), #vocab, "PyTorch reads the vocabulary from the metadata")
T.is(torch.max_length:item(), 16, "and the tokenizer's options from graft.config")
T.close(torch.probs, want, "and the weights strictly into BertForSequenceClassification: the same probabilities", 1e-5, 1e-5)

-- errors
local img = dir .. "/photo.png"
graft.image.save(img, graft.rand{3, 8, 8})
T.error_like(function() graft.predict(back, {img}) end, "is an image file, but the model reads text",
             "an image path given to a text model")
T.error_like(function() graft.predict(back, {graft.rand{3, 8, 8}}) end, "item 1 is a tensor, but the model reads text",
             "a tensor given to a text model")
local cnn = graft.models.resnet20_cifar{num_classes = 2}
T.error_like(function() graft.predict(cnn, {"the movie was good"}) end,
             '"the movie was good" is not an image file (no such file)', "a string that is no file given to an image model")
local fresh = graft.models.bert_classifier{config = config, num_classes = 2}
T.error_like(function() graft.predict(fresh, {"the movie was good"}) end, "the model reads text but has no tokenizer",
             "a text model without a tokenizer")
T.error_like(function() fresh:set_tokenizer(tok, {max_len = 8}) end, 'unknown option "max_len"', "set_tokenizer's options")
T.error_like(function() fresh:set_tokenizer(tok, {max_length = 100}) end, "max_position_embeddings (24)",
             "a max_length past the model's positions")
fresh:set_tokenizer(tok)
T.is(fresh.config.tokenizer.max_length, 24, "max_length defaults to max_position_embeddings")
T.is(#graft.predict(fresh, {"good"}), 1, "with a tokenizer set by hand, predict reads text")
local hf = {}
for k, v in pairs(config) do hf[k] = v end
hf.id2label = {["0"] = "NEGATIVE", ["1"] = "POSITIVE"}
local named = graft.models.bert_classifier{config = hf}
named:set_tokenizer(tok)
local top = graft.predict(named, {"good"}, {topk = 2})[1].classes
table.sort(top)
T.is_deeply(top, {"NEGATIVE", "POSITIVE"}, "without config.classes, names come from a Hugging Face config's id2label")
local encoder = graft.models.bert{config = config}
encoder:set_tokenizer(tok)
T.error_like(function() graft.predict(encoder, {"good"}) end, "the model gives no {N, classes} logits",
             "a BERT encoder (hidden states, no logits)")
local bare = dir .. "/bare.safetensors"
graft.save_model(graft.models.bert_classifier{config = config, num_classes = 2}, bare)
T.ok(graft.load_model(bare).tokenizer == nil, "a text model saved without a tokenizer loads without one")
os.execute("rm -rf " .. dir)
T.done()
