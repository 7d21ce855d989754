--- graft.text: BERT's WordPiece tokenizer and vocabulary training.
-- @module graft.text
local wordpiece = require "graft.text.wordpiece"

local text = {}

--- A WordPiece tokenizer from a vocabulary: BERT's basic tokenization, then greedy
-- longest-match pieces. Special tokens ([CLS], [SEP], [PAD], [MASK], [UNK]) written in the
-- text are kept whole; ids are 1-based (vocab.txt line n is id n).
-- @tparam string|{string,...} vocab a vocab.txt path, a Hugging Face tokenizer.json path, or
-- an array of tokens (id = position)
-- @tparam[opt] table opts `{lowercase = true, strip_accents = lowercase,
-- max_input_chars_per_word = 100}` (a tokenizer.json's normalizer gives the defaults)
-- @treturn WordPiece
-- @function WordPiece
text.WordPiece = wordpiece.new

--- Learns a WordPiece vocabulary from local text, as Hugging Face tokenizers'
-- WordPieceTrainer: BERT's basic tokenization, the characters seen (also as `##`
-- continuations), then merges of the most frequent adjacent pair inside words.
-- @param corpus an array of strings, a text file's path (one document per line) or an
-- iterator returning strings
-- @int vocab_size the number of tokens wanted (fewer when the text has no more pairs)
-- @tparam[opt] table opts `{lowercase = true, strip_accents, min_frequency = 2,
-- special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}, output = path}`
-- (special tokens take the first ids; output writes vocab.txt)
-- @treturn WordPiece
-- @function train_wordpiece
text.train_wordpiece = require "graft.text.train"

return text
