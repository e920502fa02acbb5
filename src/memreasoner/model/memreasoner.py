"""MemReasoner (Das et al., 2025): the parts of this package assembled into one `Reader`.

    lines --encoder--> z [N, C] --(IU: keep relevant lines)--> temporal --> z~ [N, C] --> write M
    question --encoder--> z_q --> hops: read, update query, nearest line per hop
    decoder(question | latent of the last hop's line, ORIGINAL z, not z~) --> answer
    (answer_from=each, for vt: every hop's line decoded, the parts joined in hop order)

A checkpoint is a folder: `config.json` (MemReasonerConfig, with "model": "memreasoner") and
`model.safetensors` (every trained weight; the frozen encoder is named in the config, not copied),
plus `static/` (the model2vec static model) when it was trained with the first pass.

Two paths read long inputs (issue: 1M tokens in under a minute on two cores):
  faithful  every line through the full encoder, IU keeps the top eta (`first_pass=false`, the paper);
  fast      a static first pass keeps `first_pass_keep` lines, only those go through the full encoder
            and then IU (`first_pass=true`, needs a checkpoint trained with --first-pass).
Either way line latents go through the on-disk embedding cache (`embedding_cache`), so a second
evaluation over the same books skips the encoder for every line it has seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
from torch import nn
from transformers import GPT2Config

from ..checkpoint import CONFIG_FILE, WEIGHTS_FILE, check_weights_file, load_weights, read_config, save_folder
from ..data.sample import Sample
from ..errors import InputError
from ..reader import Answer, Reader, option, setting
from .pointer import CopySource, asked_tokens, at_word_starts, token_grid, word_start_index
from .decoder import LatentDecoder, small_gpt2_config
from .embedding_cache import default_path as embedding_cache_path
from .encoder import LineEncoder
from .first_pass import StaticFirstPass, static_model
from .hops import MATCHES, ORDERS, SELECTS, UPDATES, HopReader, HopResult, padding_mask
from .memory import SOLVES, EpisodicMemory, Memory
from .relevance import SCORES, RelevanceFilter
from .temporal import KINDS, TemporalEncoding
from .word_match import WordMatch, ordered_words, words

STATIC_FOLDER = "static"
ANSWER_FROM = ("last", "each")
COPY_KEYS = ("question", "words", "shape")


@dataclass
class MemReasonerConfig:
    """Every choice of the model. (P) = stated by the paper, (open) = our documented choice.

    `setting`s are fixed when the model is trained (its architecture, and what training fits);
    `option`s may change when answering (`memreasoner eval --set NAME=VALUE`). The training flags
    are made from both (model/train.py `config_flags`), where a `help` is given.
    """

    model: str = "memreasoner"
    task: str = ""  # what it was trained on (qa1, qa2, vt); informative only
    # encoder (P: a pretrained transformer encoder)
    encoder: str = setting("", 'Hugging Face encoder name or folder; "" = the bundled MiniLM-L6')
    train_encoder: bool = setting(False, "(open) fine-tune the encoder too (slow: it is re-run on every batch); "
                                         "frozen and cached by default, see encoder.py")
    latent_dim: int = 384  # C, set from the encoder
    # temporal encoding (P: BiGRU; ablations sinusoidal, none)
    temporal: str = setting("bigru", "temporal encoding of the line latents", choices=KINDS)
    gru_hidden: int = setting(256, "hidden size of the BiGRU")
    # memory (P: Larimar, K = 512 slots)
    slots: int = setting(512, "memory slots K")
    solve: str = setting("ridge", "pseudo-inverse of the memory", choices=SOLVES)
    ridge: float = setting(1e-4, "ridge term of the memory's pseudo-inverse")
    # hops (P: alpha, threshold; open: cap, update map, soft/straight selection)
    hops: int = option(1, "hop cap (a training flag left unset takes the task's: 1 for qa1, 2 for qa2, 5 for vt)")
    alpha: float = option(8.0, "weight of the readout in the query update")
    hop_update: str = setting("line", "query update between hops (hops.py)", choices=UPDATES)
    stop_threshold: float = option(1e-3, "a story stops hopping once its readout direction moves less than this")
    select: str = setting("soft", "training stand-in for the argmax line (inference always takes the argmax)",
                          choices=SELECTS)
    beta: float = setting(10.0, "initial inverse temperature of the nearest-line softmax (learned)")
    hop_order: str = setting("rank", "bias of a later hop by where a line lies relative to the previous hop's "
                                     "line, set by what that line says: counted in candidate lines (rank) or "
                                     "in lines (relative) (hops.py)", choices=ORDERS)
    first_order: bool = setting(True, "bias the first hop by how many candidate lines follow each line, the weight "
                                      "learned from the question: the latest of several, however long the story (hops.py)")
    first_latest: bool = setting(True, "bias the first hop toward the last line holding each of the question's "
                                       "words, the weight per word learned from the question (hops.py)")
    order_words: bool = setting(True, "bias a later hop also by the lines between it and the previous hop's line "
                                      "that share that line's own words (its holder) and that shared words and "
                                      "token-level keys pick, with learned gates (hops.py)")
    chain_words: bool = setting(True, "from the third hop on, shared words also count, with a gate of their own, the "
                                      "words a line shares with every earlier hop's line (the holder's name) "
                                      "(hops.py)")
    hop_match: str = setting("words", "add to each hop's logits the rare words a line shares with the question and "
                                      "with the previous hop's line, with learned gates (word_match.py)",
                             choices=MATCHES)
    match_skip: list = field(default_factory=list)  # the questions' template words, not matched (fitted; word_match.py)
    hop_revisit: bool = option(False, "may a later hop land on a line an earlier one chose (inference; hops.py)")
    # decoder (P: GPT-2 conditioned on the latent, Larimar-style)
    decoder: str = setting("", 'folder with pretrained GPT-2 weights; "" = the small config below, trained here')
    decoder_layers: int = setting(2, "layers of the small decoder")
    decoder_dim: int = setting(128, "width of the small decoder")
    decoder_heads: int = setting(4, "attention heads of the small decoder")
    decoder_config: dict = field(default_factory=dict)  # the GPT2Config actually built (filled in)
    max_answer_tokens: int = option(8, "most tokens an answer (or each hop's part of it) is decoded to")
    answer_from: str = option("last", "decode the last hop's line (P), or each hop's line, the parts joined by "
                                      "spaces, for answers that name one item per hop (vt; every hop then runs)",
                              choices=ANSWER_FROM)
    copy: bool = setting(True, "(open) pointer-generator decoder that copies words from the chosen line (needed "
                               "for unseen answers; pointer.py)")
    copy_keys: str = setting("question", "what the copy keys see of a token: its shape, which closed-class word (the, "
                                         "to, of...) it is, the edges of answer phrases, and whether the question "
                                         "holds its word (question); the first two (words); or its shape alone "
                                         "(shape) (pointer.py)", choices=COPY_KEYS)
    hop_roles: bool = setting(True, "add to each hop's logits a score of the line read token by token: where the "
                                    "question's words stand in it, who does what to whom (line_roles.py)")
    roles_follow: bool = setting(True, "a later hop's token-level keys also see which tokens hold the previous hop's "
                                       "words and what that line was: whose move it is (line_roles.py)")
    roles_words: bool = setting(True, "the token-level keys read a line word by word, a word's first piece for the "
                                      "word, so a word of several GPT-2 pieces fills one slot as a one-piece word "
                                      "does (line_roles.py)")
    roles_rank: bool = setting(True, "the token-level keys also see which of the question's words a token's word "
                                     "is, by its place in the question (line_roles.py)")
    line_space: bool = setting(True, "the decoder reads a line as text after a space, so its first word is the "
                                     "same GPT-2 token as in an answer and can be copied (decoder.py)")
    # inference-time update (P: top-eta lines; open: score, eta, threshold)
    iu: bool = option(True, "inference-time update: write only the relevant lines (--no-iu writes every line)")
    eta: int = option(128, "IU: lines kept for long inputs")
    relevance: str = option("template", "IU relevance score (relevance.py)", choices=SCORES)
    relevance_margin: float = option(0.0, "IU: how far below a perfect template match a line may fit "
                                          "(relevance.py)")
    relevance_quantile: float = option(0.2, "IU's knn test: the share of training lines allowed to fall below its "
                                             "threshold (0 = the least typical training line sets it; relevance.py)")
    relevance_bank: int = 0  # training latents the knn score keeps (set by fit_relevance)
    relevance_templates: list = field(default_factory=list)  # the template score's templates (set by fit_relevance)
    stream_lines: int = option(2048, "IU: lines encoded and scored per chunk")
    # speed (open): a static first pass before the full encoder, and the on-disk latent cache
    first_pass: bool = option(False, "use the static first pass (fitted at training time with --first-pass)")
    first_pass_keep: int = option(1024, "first pass: lines the full encoder reads of a long input")
    first_pass_min_lines: int = option(2048, "first pass: shorter inputs skip it")
    embedding_cache: bool = option(True, "keep line latents of a frozen encoder in the SQLite cache under "
                                         "$MEMREASONER_CACHE")
    answer_batch: int = option(64, "stories per batched read/decode when answering")

    @classmethod
    def from_dict(cls, obj: dict, source: str | Path = "<config>") -> "MemReasonerConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise InputError(f"unknown MemReasoner config key(s): {', '.join(unknown)}", source)
        # Checkpoints from before the copy decoder have no "copy" key and a plain decoder; from before the
        # order bias, no "hop_order" and none; from before shared words, no "hop_match" and none; from
        # before closed-class words in the copy keys, no "copy_keys" and shape; from before spaced lines,
        # no "line_space" and lines tokenized from their first character; from before token-level hop
        # keys, no "hop_roles" and none; from before those keys followed the previous hop, no "roles_follow";
        # from before they read words, no "roles_words"; from before the first hop's order, no "first_order";
        # from before they saw which question word a token holds, no "roles_rank"; from before the first hop
        # read where the question's words were said last, no "first_latest"; from before later hops counted
        # lines by the previous line's words, no "order_words"; from before they matched the words every
        # earlier hop's line holds, no "chain_words".
        return cls(**{"copy": False, "hop_order": "none", "hop_match": "none", "copy_keys": "shape",
                      "line_space": False, "hop_roles": False, "roles_follow": False, "roles_words": False,
                      "first_order": False, "roles_rank": False, "first_latest": False,
                      "order_words": False, "chain_words": False, **obj})


@dataclass
class LineFeatures:
    """What the hops read of a batch's lines besides their latents (`MemReasoner.line_features`)."""

    matches: WordMatch | None  # the lines' shared words (hop_match=words, roles_follow)
    tokens: tuple[torch.Tensor, torch.Tensor] | None  # the roles' ids and question flags [B, N, L] (hop_roles)

    def to(self, device: torch.device | str) -> "LineFeatures":
        return LineFeatures(None if self.matches is None else self.matches.to(device),
                            None if self.tokens is None else tuple(t.to(device) for t in self.tokens))


@dataclass
class ReadOut:
    walk: HopResult  # where each hop landed
    z: torch.Tensor  # [B, N, C] original line latents, zero padding (what conditions the decoder)
    zt: torch.Tensor  # [B, N, C] order-aware latents z~ (what is written and compared with readouts)
    lengths: torch.Tensor  # [B]
    written: Memory


class MemReasoner(nn.Module, Reader):
    name = "memreasoner"

    def __init__(self, config: MemReasonerConfig):
        super().__init__()
        self.config = config
        self.encoder = LineEncoder(config.encoder, trainable=config.train_encoder)
        config.latent_dim = dim = self.encoder.dim
        self.temporal = TemporalEncoding(dim, config.temporal, config.gru_hidden)
        self.memory = EpisodicMemory(dim, config.slots, config.solve, config.ridge)
        self.hop = HopReader(dim, config.hops, config.alpha, config.hop_update, config.stop_threshold,
                             config.select, config.beta, config.hop_revisit, config.hop_order, config.hop_match,
                             config.hop_roles, config.roles_follow, config.first_order, config.roles_rank,
                             config.first_latest, config.order_words, config.chain_words)
        copy = {"copy": config.copy, "copy_words": config.copy_keys != "shape",
                "copy_question": config.copy_keys == "question", "line_space": config.line_space}
        if config.decoder_config:  # rebuilding a saved model: architecture from the config, weights from the file
            self.decoder = LatentDecoder(dim, GPT2Config.from_dict(config.decoder_config), **copy)
        else:
            small = small_gpt2_config(config.decoder_layers, config.decoder_dim, config.decoder_heads)
            self.decoder = LatentDecoder(dim, small, pretrained=config.decoder, **copy)
            config.decoder_config = self.decoder.gpt2.config.to_dict()
        self.relevance = RelevanceFilter(dim, config.relevance, config.eta, config.relevance_margin,
                                         config.stream_lines, config.relevance_bank, config.relevance_templates,
                                         config.relevance_quantile)
        self.first_pass: StaticFirstPass | None = None  # fit_first_pass, or `load` of a checkpoint that has one
        self.apply_options()

    def apply_options(self) -> None:
        """Push the inference-time settings of `config` into the parts that read them."""
        c = self.config
        self.relevance.eta, self.relevance.margin, self.relevance.stream_lines = c.eta, c.relevance_margin, c.stream_lines
        try:
            self.relevance.score_kind = c.relevance
        except ValueError as e:
            raise InputError(str(e)) from None
        if not 0.0 <= c.relevance_quantile < 1.0:
            raise InputError(f"relevance_quantile must be in [0, 1), not {c.relevance_quantile}")
        self.relevance.quantile = c.relevance_quantile
        self.relevance.calibrate()  # from the stored bank, so the quantile is an answer-time option
        if c.relevance == "template" and c.relevance_bank and not c.relevance_templates:
            raise InputError("this checkpoint was fitted before the template relevance score; retrain it or use relevance=knn")
        self.hop.hops, self.hop.alpha, self.hop.threshold, self.hop.revisit = c.hops, c.alpha, c.stop_threshold, c.hop_revisit
        if c.answer_from not in ANSWER_FROM:
            raise InputError(f"answer_from must be one of {ANSWER_FROM}, not {c.answer_from!r}")
        if self.first_pass is not None:
            self.first_pass.keep, self.first_pass.min_lines = c.first_pass_keep, c.first_pass_min_lines
        elif c.first_pass:
            raise InputError("this checkpoint has no first pass; train it with --first-pass")

    def with_options(self, **options) -> "MemReasoner":
        before = {key: getattr(self.config, key) for key in options if hasattr(self.config, key)}
        super().with_options(**options)
        try:
            self.apply_options()
        except InputError:  # e.g. first_pass=true on a checkpoint without one: keep the options it had
            for key, value in before.items():
                setattr(self.config, key, value)
            self.apply_options()
            raise
        return self

    @property
    def device(self) -> torch.device:
        return self.memory.prior.device

    # -- what the hops read of the lines besides their latents ---------------------------------------
    def line_features(self, story_words: list[list[frozenset[str]]], question_words: list[tuple[str, ...]],
                      story_tokens: list[list[list[int]]]) -> LineFeatures:
        """What the hops read of B stories' lines besides their latents, on the CPU: story_words each line's words
        (word_match.words) and question_words each question's, in order (`question_words`), for hop_match=words
        and the roles' ranks; story_tokens each line's GPT-2
        ids (decoder.copy_tokens), for hop_roles. Python work, apart from `read`: training builds them with
        each batch (train_data.py)."""
        n = max(len(s) for s in story_words)
        tokens = None
        if self.config.hop_roles:
            ids = token_grid(story_tokens)
            tokens = ids, asked_tokens(story_tokens, list(range(len(story_tokens))), question_words, ids.shape[1:],
                                       ranked=self.config.roles_rank)
        matches = None
        follow = self.config.hop_roles and self.config.roles_follow
        if self.config.hop_match == "words" or follow or self.config.first_latest or self.config.order_words:
            matches = WordMatch.build(story_words, question_words, n, "cpu", story_tokens if follow else None,
                                      tokens[0].shape[2] if follow else 0)
        if self.config.hop_roles and self.config.roles_words:  # what the roles read: each word's first piece
            starts = word_start_index(story_tokens)
            tokens = tuple(at_word_starts(grid, starts, fill) for grid, fill in zip(tokens, (-1, 0)))
            if follow:
                matches = replace(matches, token_columns=at_word_starts(matches.token_columns, starts, -1))
        return LineFeatures(matches, tokens)

    # -- the differentiable core, shared by training and inference ---------------------------------
    def read(self, stories: list[torch.Tensor], zq: torch.Tensor, features: LineFeatures, hard: bool = False) -> ReadOut:
        """stories: B tensors [N_b, C] of line latents, in document order; zq: [B, C] question latents;
        features: their `line_features`."""
        lengths = torch.tensor([len(s) for s in stories], device=zq.device)
        z = nn.utils.rnn.pad_sequence(stories, batch_first=True)  # [B, N, C], zero padding
        zt = self.temporal(z, lengths)
        written = self.memory.write(zt)
        features = features.to(zq.device)
        walk = self.hop(self.memory, written, zt, lengths, zq, features.matches, hard=hard,
                        stop=self.config.answer_from == "last", tokens=features.tokens)
        return ReadOut(walk, z, zt, lengths, written)

    def recall(self, out: ReadOut, line: torch.Tensor) -> torch.Tensor:
        """Query the memory with written line `line` [B] itself -> [B, N] soft attention over lines.

        The autoencoding path of training: read(z~_j) lands on line j when the latents stay distinct.
        """
        query = out.zt[torch.arange(len(line)), line]  # [B, C]
        r = self.memory.read(out.written, query)
        return self.hop.nearest(r, out.zt, padding_mask(out.lengths, out.zt.shape[1])).softmax(-1)

    def fit_relevance(self, train_latents: torch.Tensor, train_lines: list[str]) -> None:
        """Fit IU's relevance score on the distinct training lines and their latents [n, C]. The bank
        and the templates are fitted whatever the score, so `relevance` can be switched at inference."""
        self.config.relevance_templates = self.relevance.fit(train_latents, train_lines)
        self.config.relevance_bank = len(self.relevance.bank)

    def question_words(self, question: str) -> tuple[str, ...]:
        """The question's words that hops match, in order: all but the task's question template (match_skip)."""
        skip = set(self.config.match_skip)
        return tuple(w for w in ordered_words(question) if w not in skip)

    def fit_first_pass(self, train_lines: list[str], embedder=None) -> None:
        """Fit the static first pass on the training lines; `embedder` defaults to the model2vec
        distillation of this model's encoder."""
        self.config.first_pass = True
        self.first_pass = StaticFirstPass(embedder or static_model(self.encoder.name)).to(self.device)
        self.first_pass.fit(train_lines)
        self.apply_options()

    def candidate_lines(self, lines: list[str]) -> list[int]:
        """The lines the full encoder reads: all of them, or the first pass's pick plus every line that
        matches a training template (the static scores rank lines with unseen words low, the templates
        do not care which word fills a slot)."""
        picked = self.first_pass.select(lines) if self.config.first_pass else None
        if picked is None or len(picked) == len(lines):
            return list(range(len(lines)))
        return sorted(set(picked).union(i for i, line in enumerate(lines) if self.relevance.is_story_like(line)))

    # -- Reader ------------------------------------------------------------------------------------
    @torch.no_grad()
    def answer(self, samples: list[Sample]) -> list[Answer]:
        return self._answer([(s.lines(), s.question) for s in samples])

    def answer_question(self, lines: list[str], question: str) -> Answer:
        """One question over any list of lines (the `answer` command)."""
        return self._answer([(lines, question)])[0]

    @torch.no_grad()
    def _answer(self, items: list[tuple[list[str], str]]) -> list[Answer]:
        was_training = self.training
        self.eval()
        # The disk cache serves answering only, and only a frozen encoder: training encodes its own lines
        # (a resumed run must repeat the uninterrupted one bit for bit), and a trained encoder's identity
        # changes with every step.
        use_disk = self.config.embedding_cache and not self.encoder.trainable
        self.encoder.use_disk_cache(embedding_cache_path() if use_disk else None)
        answers: list[Answer] = []
        for start in range(0, len(items), self.config.answer_batch):
            answers += self._answer_batch(items[start:start + self.config.answer_batch])
        self.train(was_training)
        return answers

    def _answer_batch(self, items: list[tuple[list[str], str]]) -> list[Answer]:
        t0 = time.perf_counter()
        # A story line glued to other text (BABILong's cut noise sentence) becomes its own line;
        # `origin` maps each line back to the input line it came from, which is what the hops report.
        split = [self.relevance.split_glued(lines, self.encoder) for lines, _ in items]
        items, origin = [(lines, q) for (lines, _), (_, q) in zip(split, items)], [o for _, o in split]
        zq = self.encoder([q for _, q in items])  # [B, C]
        kept, stories, own_seconds = [], [], []
        for (lines, _), q in zip(items, zq):
            t = time.perf_counter()
            if self.config.iu:
                candidates = self.candidate_lines(lines)
                idx, z, _ = self.relevance.select([lines[i] for i in candidates], q, self.encoder)
                idx = [candidates[i] for i in idx]
            else:
                idx, z = list(range(len(lines))), self.encoder(lines)
            kept.append(idx)
            stories.append(z)
            own_seconds.append(time.perf_counter() - t)
        out = [Answer(text="", trace={"kept_lines": 0}) for _ in items]
        live = [b for b in range(len(items)) if kept[b]]  # a story with no lines gets an empty answer
        if live:
            tokens = {b: [self.decoder.copy_tokens(items[b][0][i]) for i in kept[b]] for b in live}  # kept lines' ids
            features = self.line_features([[words(items[b][0][i]) for i in kept[b]] for b in live],
                                          [self.question_words(items[b][1]) for b in live], [tokens[b] for b in live])
            walk = self.read([stories[b] for b in live], zq[live], features, hard=True).walk
            # What is decoded: the last used hop's line of each story, or every hop's line (answer_from=each).
            rows = [(j, t) for j in range(len(live))
                    for t in (range(int(walk.used[j])) if self.config.answer_from == "each" else [int(walk.used[j]) - 1])]
            row_story = [live[j] for j, _ in rows]
            row_line = [int(walk.lines[j, t]) for j, t in rows]  # index into the story's kept lines
            latent = torch.stack([stories[b][i] for b, i in zip(row_story, row_line)])  # the chosen lines' original latents
            prompts = [self.decoder.answer_tokens(items[b][1])[0] for b in row_story]
            source = None
            if self.config.copy:  # the decoder may copy from the text of the line it is conditioned on
                line_ids = [tokens[b][i] for b, i in zip(row_story, row_line)]
                source = CopySource.from_lines([[ids] for ids in line_ids], torch.ones(len(rows), 1, device=self.device),
                                               questions=[self.question_words(items[b][1]) for b in row_story])
            generated = self.decoder.generate(latent, prompts, self.config.max_answer_tokens, source)
            if self.config.copy:  # an answer copied from the line is a whole word of it
                generated = [self.decoder.whole_words(ids, src) for ids, src in zip(generated, line_ids)]
            parts: dict[int, list[str]] = {}
            for (j, _), ids in zip(rows, generated):
                parts.setdefault(j, []).append(self.decoder.decode(ids))
            for j, b in enumerate(live):
                hop_lines = [kept[b][i] for i in walk.lines[j, :int(walk.used[j])].tolist()]  # split lines' indices
                out[b] = Answer(text=" ".join(parts[j]), hops=[origin[b][i] for i in hop_lines],
                                trace={"kept_lines": len(kept[b]), "hop_lines": [items[b][0][i] for i in hop_lines]})
        shared = (time.perf_counter() - t0 - sum(own_seconds)) / len(items)
        for a, own in zip(out, own_seconds):
            a.seconds = own + shared
        return out

    # -- checkpoints -------------------------------------------------------------------------------
    def save(self, path: str | Path, extra=None) -> None:
        """Write config.json + model.safetensors (+ static/ with a first pass) atomically; `extra(folder)`
        may add files (trainer state)."""

        def write(folder: Path) -> None:
            if self.first_pass is not None:
                self.first_pass.embedder.save_pretrained(str(folder / STATIC_FOLDER))
            if extra is not None:
                extra(folder)

        save_folder(path, self.config, self, write)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "MemReasoner":
        path = Path(path)
        obj = read_config(path, "MemReasoner")
        config = MemReasonerConfig.from_dict(obj, path / CONFIG_FILE)
        first_pass_on, config.first_pass = config.first_pass, False  # switched on below, once its static model is read
        model = cls(config)
        # static/ says whether the checkpoint has a fitted first pass; config.first_pass only whether it is on.
        static = path / STATIC_FOLDER
        if static.is_dir():
            from model2vec import StaticModel

            check_weights_file(static / WEIGHTS_FILE)
            model.first_pass = StaticFirstPass(StaticModel.from_pretrained(str(static)))
        elif first_pass_on:
            raise InputError(f"the config has first_pass but there is no {STATIC_FOLDER}/ folder", path)
        config.first_pass = first_pass_on
        load_weights(model, path)
        model = model.to(device).eval()
        model.apply_options()  # the first pass, attached above, takes its settings from the config
        return model
