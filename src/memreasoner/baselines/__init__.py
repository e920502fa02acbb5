"""The peers MemReasoner is measured against, in the same harness (`memreasoner compare`).

One module per model, each a `Reader` with its own trainer (`memreasoner train --model NAME`):
    larimar      MemReasoner without temporal encoding and hops (an ablation on MemReasoner's code)
    rmt          Recurrent Memory Transformer, GPT-2 backbone, memory carried across segments
    mamba        selective state-space model (mambapy layers, chunked scan)
    transformer  full-attention GPT-2 over context + question, up to its window
    memn2n       End-To-End Memory Network, the classic bAbI model
    retrieval    BM25 (or embedding) top-k lines, read by a MemN2N
`common` holds what they share (data, token format, checkpoints, the training loop), `gpt2` the
GPT-2 backbone of the RMT and the transformer. All train from scratch at small size on the bAbI
train split, without distractors, unless given pretrained weights from a local folder.
"""
