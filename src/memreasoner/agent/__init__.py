"""ReMemR1 and MemAgent: an LLM agent that reads a long context chunk by chunk into a textual memory.

Modules, each small:
    prompts    the per-step prompt and the parser for the model's reply (`<update>`, `<recall>`, `\\boxed{}`)
    chunking   splitting a sample's context into chunks of whole lines, counted in GPT-2 tokens
    retrieval  the callback library: best-matching past memory of an episode (TF-IDF or BM25)
    loop       the agent loop over a batch of episodes, with traces
    backends   the policy: a local Hugging Face causal LM, or an OpenAI-compatible server by URL
    tokenizer  the word-level tokenizer of the tiny policies trained here
    oracle     the scripted agent the tiny policy imitates
    rewards    outcome and step rewards, and their group-normalised advantages
    grpo       the clipped, KL-regularised policy-gradient update on multi-turn trajectories
    train      `memreasoner train --model rememr1|memagent`: imitation, then GRPO, then a held-out report
    reader     the `Reader` the benchmark harness calls
    serve      a minimal OpenAI-compatible server for a local policy
"""
