--- graft.text: BERT's WordPiece tokenizer and vocabulary training.
-- @module graft.text
local wordpiece = require "graft.text.wordpiece"

local text = {}

--- WordPiece(vocab [, {lowercase, strip_accents}]): see graft.text.WordPiece.
text.WordPiece = wordpiece.new

--- train_wordpiece(corpus, vocab_size [, opts]) -> WordPiece learned from local text.
text.train_wordpiece = require "graft.text.train"

return text
