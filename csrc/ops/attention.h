/* Scaled dot-product attention over heads, as BERT's self-attention computes it:
 * softmax(Q K^T * scale, masked) V for each (batch, head), with its gradients. Q, K and V may
 * be views of a {B, T, H, D} projection (only their last dim must be contiguous), so splitting
 * the heads costs no copy; the output and the gradients are laid out {B, T, H, D} in memory
 * (returned as {B, H, T, D} views), so merging the heads back costs none either. */
#ifndef GRAFT_OPS_ATTENTION_H
#define GRAFT_OPS_ATTENTION_H

#include "../core/tensor.h"

/* out, probs (empty) from q {B, H, Tq, D}, k {B, H, Tk, D}, v {B, H, Tk, Dv} (f32) and an
 * optional key mask {B, Tk} (any dtype: nonzero attends, zero is padding). A row whose keys
 * are all masked attends uniformly to every key, as Hugging Face's additive mask gives.
 * probs {B, H, Tq, Tk} (contiguous) is the softmax, kept for the backward pass. */
graft_status graft_attention(graft_ctx *ctx, graft_tensor *out, graft_tensor *probs,
                             const graft_tensor *q, const graft_tensor *k, const graft_tensor *v,
                             const graft_tensor *mask, float scale, graft_error *err);

/* The gradients wanted (non-NULL, empty headers) of q, k, v from the output gradient g and
 * the forward's probs. */
graft_status graft_attention_grad(graft_ctx *ctx, graft_tensor *gq, graft_tensor *gk,
                                  graft_tensor *gv, const graft_tensor *g,
                                  const graft_tensor *probs, const graft_tensor *q,
                                  const graft_tensor *k, const graft_tensor *v, float scale,
                                  graft_error *err);

#endif
