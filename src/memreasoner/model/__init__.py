"""MemReasoner, one module per step of the data flow:

encoder (lines -> latents) -> temporal (order-aware latents) -> memory (Larimar write/read)
-> hops (iterative read, nearest line) -> decoder (GPT-2 conditioned on the chosen line's latent).
relevance holds the inference-time update (IU) for long inputs; memreasoner assembles the parts;
train trains them on bAbI.
"""
