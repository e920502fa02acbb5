"""Step 7 of MemReasoner: the inference-time update (IU) for long inputs.

A memory of C-dim latents cannot hold a haystack: once more than C lines are written, the read is
the identity (memory.py). IU keeps only the lines most likely to be story facts, in their original
order, and runs the temporal encoding, write and read on those alone (P). The relevance score, eta
and how a second-hop fact survives are open; the choices here:

Score (config `relevance`), learned from the training lines alone, never from distractors. All but
`question` ask "does this look like a story line?", not "is this about the question?", so a qa2
second-hop fact ("Mary went to the kitchen"), which shares no word with "Where is the football?",
survives as surely as the first-hop fact:
  template  (default) a line is kept when it fits a training template *or* passes the knn test.
            Templates are the training lines with every word position that varies between them
            made a slot ("* * to the * ."), scored as the fraction of the line's words that agree
            with a template of its length: story lines with names, places and objects never seen
            in training fill the same slots, which no score on the latents manages. The knn test
            keeps what a template cannot: a fact phrased with other words ("Mary walked into the
            kitchen."), whose latent MiniLM still puts as near a training line as training lines are
            to each other. One score ranks both: knn is moved onto the template's scale (shifted
            by 1 - calibration, so knn's threshold lands on the template's).
  knn       the highest cosine between the line's latent and any distinct training line
            (a bank of at most `bank` latents kept with the checkpoint).
  centroid  cosine to the mean latent of the training lines.
  question  cosine to the question latent: the ablation SPEC warns about (a question-similarity
            filter ranks a supporting fact hundreds of places down among book lines and throws the
            second hop away).
Limits: a template has a fixed number of words, so a story whose fillers have more words than
training's ("the living room" for "the kitchen") matches only through knn.

Which lines survive: the top `eta` lines by score, minus those below the threshold (unless that
would leave none). `calibration` is the `quantile` of the scores training lines get against the
others (knn and template: each line's nearest *other* bank line; centroid: its cosine to the
centroid), computed from the stored bank, so it can change at answer time. The threshold is
`calibration - margin`, and for templates 1 - margin (every training line matches its own template
with score 1). `quantile` is 0.2, not 0 (the least typical training line): with generated stories
in training the bank holds lines whose nearest other line is far (qa1: 0.59, where 95% of lines
have one nearer than 0.69), and book lines between the two passed, at 16k two of qa1's and three of
qa5's misses (README). At 0.05 book lines with "gave" and a name still passed qa5's test, and the
hops of a model with token-level keys took some ("Before his departure, he gave his assistant a
glove."; README). Facts in other words stay far above it (paraphrased qa1 lines: 0.83 and up).
`margin` is 0, not 0.1 or 0.2: at 0.8 short book fragments that share 4 of 5 words with
"* * the * ." passed and qa2's hops landed on them, and once training added generated stories
(many phrasings, a knn bank of 4096 varied lines) 0.1 let book lines through the knn test: at 4k
qa1 kept 14 lines a sample instead of its story's 6 and lost 3 of 100 questions (README). Both are
read at inference, so they can be changed without retraining.
`question` scores have no threshold.

A story line glued to other text (BABILong's generator cuts its last noise sentence by tokens and
may put a fact right after it) is split off first (`split_glued`), so it is scored on its own words.

Streaming: lines are encoded and scored `stream_lines` at a time, and only the running top-eta
(indices, scores, latents) is kept, so a 1M-token haystack never becomes one tensor.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SCORES = ("template", "knn", "centroid", "question")
SLOT = "*"  # a template position that takes any word
SENTENCE_END = {".", "?", "!"}
_WORD = re.compile(r"\w+|[^\w\s]")


def words(line: str) -> tuple[str, ...]:
    """A line as words and punctuation marks, the units templates are made of."""
    return tuple(_WORD.findall(line))


def fit_templates(lines: Sequence[str]) -> list[str]:
    """The training lines with every position that varies between them made a slot.

    Positions become slots when two lines of the same length differ there and nowhere else (slots
    already found count as equal). Repeating this until nothing changes turns "Mary went to the
    kitchen." and its neighbours into "* * to the * .": names, verbs and places are slots because
    training fills them with several words, "to the" stays because it never varies. Lines with two
    free words need two positions at once, since random names never repeat to vary one alone: "VAR
    QWERT = VAR ASDFG." and "VAR ZXCVB = VAR POIUY." become "VAR * = VAR * .". A two-position merge
    happens only once single positions have nothing left to merge, and only when at least half of
    the template's words stay fixed: "* * to the * ." and "* put down the * ." stay apart, where
    "* * * the * ." would take any six-word sentence with "the" in it for a story line.
    A template that a more general one covers is dropped (it never scores higher). Returned as
    space-joined words, the form the config stores.
    """
    templates = {words(line) for line in lines}
    changed = True
    while changed:
        while changed:  # single positions, to a fixed point
            changed = False
            for i in range(max(map(len, templates), default=0)):
                templates, merged = _merge_at(templates, (i,))
                changed |= merged
        for pair in itertools.combinations(range(max(map(len, templates), default=0)), 2):
            templates, merged = _merge_at(templates, pair)
            changed |= merged
    general = [t for t in templates if SLOT in t]
    kept = [t for t in templates
            if not any(g != t and len(g) == len(t) and all(a in (SLOT, b) for a, b in zip(g, t)) for g in general)]
    return sorted(" ".join(t) for t in kept)


def _merge_at(templates: set[tuple[str, ...]], positions: tuple[int, ...]) -> tuple[set[tuple[str, ...]], bool]:
    """Make `positions` slots in every template that another template equals everywhere else while
    differing at each of `positions`. Returns (templates, whether any changed)."""
    def split(t):
        return tuple(w for k, w in enumerate(t) if k not in positions), tuple(t[k] for k in positions)

    # Per group of templates equal outside `positions`: how many there are, and how many share each
    # word (or pair of words) there. Whether some member differs at *every* position is then a count
    # (inclusion-exclusion), not a scan of the group.
    counts: Counter = Counter()
    for t in templates:
        if len(t) > positions[-1]:
            rest, own = split(t)
            key = (len(t), rest)
            counts[key] += 1
            for k, w in enumerate(own):
                counts[key, k, w] += 1
            if len(own) == 2:
                counts[key, own] += 1
    out, changed = set(), False
    for t in templates:
        if len(t) > positions[-1]:
            rest, own = split(t)
            key = (len(t), rest)
            differing = counts[key] - sum(counts[key, k, w] for k, w in enumerate(own))
            if len(own) == 2:
                differing += counts[key, own]
            if differing > 0 and any(w != SLOT for w in own):
                general = tuple(SLOT if k in positions else w for k, w in enumerate(t))
                if len(positions) == 1 or 2 * sum(w != SLOT for w in general) >= len(general):
                    t, changed = general, True
        out.add(t)
    return out, changed


def top_in_order(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the k highest `scores` (of lines in document order), ascending.

    A stable sort of the reversed scores ranks tied lines latest first: a total order, so a running
    top over a stream keeps the same lines as one pass over everything, even when template matches
    tie at 1, and the latest facts are the ones a question is answered from.
    """
    rank = torch.sort(scores.flip(0), descending=True, stable=True).indices[:k]
    return (len(scores) - 1 - rank).sort().values


class TemplateMatcher:
    """The template part of the `template` score: the best fraction of a line's words that agree
    with a template of the same length (a slot agrees with any word)."""

    def __init__(self, templates: Sequence[str]):
        self.by_length: dict[int, list[tuple[str, ...]]] = {}
        for t in templates:
            parts = tuple(t.split(" "))
            self.by_length.setdefault(len(parts), []).append(parts)

    def score(self, line: str) -> float:
        return self._score(words(line))

    def _score(self, w: Sequence[str]) -> float:
        return max((sum(a == SLOT or a == b for a, b in zip(t, w)) / len(w) for t in self.by_length.get(len(w), ())),
                   default=0.0)

    def glued_fact(self, line: str, threshold: float) -> tuple[int, int] | None:
        """Where a story line glued to other text inside `line` may lie (character start and end);
        None if `line` is a story line itself or holds none.

        BABILong's generator cuts its last noise sentence by tokens and may put facts right after
        the cut piece, so Punkt returns "Still later he removed to Daniel travelled to the office."
        as one sentence; and a noise sentence that starts without a capital ("} And so...") stays
        on the fact before it. So a line that matches no template may hold a fact as its tail, from
        a capitalised word on, or as its head, up to a full stop; the longest such tail, else the
        longest head, is taken. Ordinary sentences end in such tails too ("...performed Beauty and
        the Beast.", "...I received to the contrary."): RelevanceFilter.split_glued asks the
        latent as well.
        """
        if not self.by_length:
            return None
        spans = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(line)]
        w = [word for *_, word in spans]
        if self._score(w) >= threshold:
            return None
        tails = [(k, len(w)) for k in range(1, len(w)) if w[k][0].isupper()]
        heads = [(0, k) for k in range(len(w) - 1, 0, -1) if w[k - 1] in SENTENCE_END]
        for a, b in tails + heads:
            if b - a in self.by_length and self._score(w[a:b]) >= threshold:
                return spans[a][0], spans[b - 1][1]
        return None


class RelevanceFilter(nn.Module):
    def __init__(self, dim: int, score: str = "knn", eta: int = 128, margin: float = 0.0,
                 stream_lines: int = 2048, bank: int = 0, templates: Sequence[str] = (), quantile: float = 0.2):
        super().__init__()
        self.score_kind, self.eta, self.margin, self.stream_lines = score, eta, margin, stream_lines
        self.quantile = quantile
        self.templates = TemplateMatcher(templates)  # fitted on training lines; the config stores them
        # Fitted on training lines; saved with the checkpoint. `bank` rows: the config records how many.
        self.register_buffer("bank", torch.zeros(bank, dim))  # knn: training line latents [U, C]
        self.register_buffer("centroid", torch.zeros(dim))
        self.register_buffer("calibration", torch.tensor(float("inf")))

    @property
    def score_kind(self) -> str:
        return self._score_kind

    @score_kind.setter
    def score_kind(self, kind: str) -> None:
        if kind not in SCORES:
            raise ValueError(f"relevance score must be one of {SCORES}, not {kind!r}")
        self._score_kind = kind

    @torch.no_grad()
    def fit(self, train_latents: torch.Tensor, train_lines: Sequence[str] = (), max_bank: int = 4096) -> list[str]:
        """train_latents: [n, C] unit latents of the distinct training lines (at most `max_bank` kept),
        `train_lines` their text. Returns the templates (for the config)."""
        templates = fit_templates(train_lines)
        self.templates = TemplateMatcher(templates)
        if len(train_latents) > max_bank:
            keep = torch.randperm(len(train_latents), generator=torch.Generator().manual_seed(0))[:max_bank]
            train_latents = train_latents[keep]
        self.bank = train_latents.clone()
        self.centroid.copy_(F.normalize(train_latents.mean(0), dim=0))
        self.calibrate()
        return templates

    @torch.no_grad()
    def calibrate(self) -> None:
        """Set `calibration` from the bank: the `quantile` of the training lines' scores (knn and
        template: each line's cosine to its nearest *other* bank line; centroid: to the centroid)."""
        if len(self.bank) == 0:
            return
        if self.score_kind == "centroid":
            scores = self.bank @ self.centroid
        elif len(self.bank) > 1:
            sim = self.bank @ self.bank.T
            sim.fill_diagonal_(float("-inf"))  # leave-one-out: each line against the others
            scores = sim.max(1).values
        else:
            scores = self.bank.new_ones(1)
        self.calibration.fill_(float(torch.quantile(scores, self.quantile)))

    @property
    def threshold(self) -> float:
        if self.score_kind == "question":
            return float("-inf")
        if self.score_kind == "template":
            return self.template_threshold
        return float(self.calibration) - self.margin

    @property
    def template_threshold(self) -> float:
        """Every training line matches its own template with score 1, so 1 - margin."""
        return 1.0 - self.margin

    def is_story_like(self, line: str) -> bool:
        """Does `line` match a training template (the test the first pass may not overrule)?"""
        return self.templates.score(line) >= self.template_threshold

    def split_glued(self, lines: Sequence[str], encode: Callable[[list[str]], torch.Tensor]
                    ) -> tuple[list[str], list[int]]:
        """`lines` with every story line glued to other text split off into a line of its own ->
        (lines, index of the input line each came from). A piece is split off when it fits a
        template (TemplateMatcher.glued_fact) and its latent (`encode`) passes the knn test: the
        template alone also fits the ends of ordinary sentences. So a glued fact in words never
        seen in training stays glued (its latent is far from training's)."""
        found = {i: span for i, line in enumerate(lines)
                 if (span := self.templates.glued_fact(line, self.template_threshold)) is not None}
        if found and len(self.bank):
            knn = (encode([lines[i][a:b] for i, (a, b) in found.items()]) @ self.bank.T).max(1).values
            found = {i: span for (i, span), ok in zip(found.items(), (knn >= float(self.calibration) - self.margin).tolist())
                     if ok}
        else:
            found = {}
        out, origin = [], []
        for i, line in enumerate(lines):
            start, end = found.get(i, (0, len(line)))
            pieces = [p for p in (line[:start].strip(), line[start:end], line[end:].strip()) if p]
            out += pieces
            origin += [i] * len(pieces)
        return out, origin

    def score(self, z: torch.Tensor, zq: torch.Tensor, lines: Sequence[str]) -> torch.Tensor:
        """z: [n, C] latents of `lines`, zq: [C] question latent -> [n] scores (higher = keep)."""
        if self.score_kind in ("knn", "template"):
            knn = (z @ self.bank.T).max(1).values if len(self.bank) else z.new_zeros(len(z))
            if self.score_kind == "knn":
                return knn
            template = torch.tensor([self.templates.score(t) for t in lines], dtype=z.dtype, device=z.device)
            return torch.maximum(knn + (1.0 - self.calibration), template)  # knn on the template's scale
        return z @ (self.centroid if self.score_kind == "centroid" else zq)

    @torch.no_grad()
    def select(self, lines: list[str], zq: torch.Tensor, encode: Callable[[list[str]], torch.Tensor]
               ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Stream `lines` through `encode` -> (kept line indices ascending, their latents [k, C], scores [k])."""
        keep_idx = torch.empty(0, dtype=torch.long)
        keep_z = torch.empty(0, zq.shape[-1], device=zq.device)
        keep_s = torch.empty(0, device=zq.device)
        for start in range(0, len(lines), self.stream_lines):
            chunk = lines[start:start + self.stream_lines]
            z = encode(chunk)  # [b, C]
            s = self.score(z, zq, chunk)
            idx = torch.arange(start, start + len(z))
            keep_idx, keep_z, keep_s = torch.cat([keep_idx, idx]), torch.cat([keep_z, z]), torch.cat([keep_s, s])
            if len(keep_s) > self.eta:
                top = top_in_order(keep_s, self.eta)
                keep_idx, keep_z, keep_s = keep_idx[top.cpu()], keep_z[top], keep_s[top]
        above = keep_s >= self.threshold  # the threshold only ever removes lines, never all of them
        if above.any():
            keep_idx, keep_z, keep_s = keep_idx[above.cpu()], keep_z[above], keep_s[above]
        return keep_idx.tolist(), keep_z, keep_s  # document order: the temporal encoding needs it
