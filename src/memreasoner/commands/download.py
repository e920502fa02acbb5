"""`memreasoner download`: fetch the public data this toolkit uses, each file checked by SHA-256.

What it lays out under the data dir is exactly the layout of ../shared/data (see `memreasoner.paths`):
bAbI v1.2 qa1-qa5 from the public archive, Project Gutenberg books for distractor text (PG-19 itself
is not fetched: it is 11 GB), the GPT-2 BPE ranks and BABILong's 100-sample index list. The checksums
are those of the copies in ../shared/data, so a download gives byte-identical data.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from ..files import write_atomic
from ..paths import ENV_VAR, chosen_data_dir, download_dir

BABI_ARCHIVE = "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz"
_QA1 = "qa1_single-supporting-fact"
_QA2 = "qa2_two-supporting-facts"
_QA3 = "qa3_three-supporting-facts"
_QA4 = "qa4_two-arg-relations"
_QA5 = "qa5_three-arg-relations"
# data-dir path -> SHA-256; each is `tasks_1-20_v1-2/<path under babi/>` in the archive. qa1-qa5, as embedded
# (no en-10k qa3 train file: ../shared/data's copy of the release lacks it, so its checksum is unknown here).
BABI_FILES = {
    f"babi/en/{_QA1}_test.txt": "55acf66cef2f6d798e2aa1d056e1ec8f24e910ea9215b639450574321132959b",
    f"babi/en/{_QA1}_train.txt": "c64ba9b1a49bbb111ffc4cd2ae4f129d25c012399dd7ade9679eea464b9afb05",
    f"babi/en/{_QA2}_test.txt": "eff93fb9cd81ba02eb765772cf7cc269769ed44ec71cbbbc19cfb16ee5eba0f6",
    f"babi/en/{_QA2}_train.txt": "a4978af5bc0dc30191810e7c9949aaa6eae939ed0f6beb9fcb5f4330c2a27860",
    f"babi/en-10k/{_QA1}_test.txt": "55acf66cef2f6d798e2aa1d056e1ec8f24e910ea9215b639450574321132959b",
    f"babi/en-10k/{_QA1}_train.txt": "749ea9f7c99070feb2d88c975a254417a0dcc8274add4435ae5ae24c7afc7e9d",
    f"babi/en-10k/{_QA2}_test.txt": "eff93fb9cd81ba02eb765772cf7cc269769ed44ec71cbbbc19cfb16ee5eba0f6",
    f"babi/en-10k/{_QA2}_train.txt": "d4074c0c5d54f70ce2f538056ce2b6ef6a313da336da4245f1a24f1298e37ef3",
    f"babi/en/{_QA3}_test.txt": "17795c977100baf8188f386522ae301b62d6c1a13efc01b3aea781e588b4d57f",
    f"babi/en/{_QA3}_train.txt": "a6e78019f36a02a7ed71fe6aaded0b563ff09c8deec392931801fcd9c6af4d60",
    f"babi/en-10k/{_QA3}_test.txt": "17795c977100baf8188f386522ae301b62d6c1a13efc01b3aea781e588b4d57f",
    f"babi/en/{_QA4}_test.txt": "07f0ca18ddeea9eed4ba6d59e162adcb0ce44815721114b3540d92825509331e",
    f"babi/en/{_QA4}_train.txt": "c9370502d85fa382f32d1fea2111e817f81ae9e3e79eb2924a1a5392a90417fa",
    f"babi/en-10k/{_QA4}_test.txt": "07f0ca18ddeea9eed4ba6d59e162adcb0ce44815721114b3540d92825509331e",
    f"babi/en-10k/{_QA4}_train.txt": "5d11b821d35234988ab907866aa7ce718e6b6d751acf63bdef52262afb59f12c",
    f"babi/en/{_QA5}_test.txt": "ec825c1c8a76e63a31f0d7a7763cd63740e98332fa9bdf246a19068949bd5f97",
    f"babi/en/{_QA5}_train.txt": "086cd59c3ca9677bfac3d6a22ca5853c76a5c1fbae3159c7c4a6aef759a74ec0",
    f"babi/en-10k/{_QA5}_test.txt": "ec825c1c8a76e63a31f0d7a7763cd63740e98332fa9bdf246a19068949bd5f97",
    f"babi/en-10k/{_QA5}_train.txt": "2506910935b701bac64fc8b1d7ff12bd8d0f47ceefca183454282bec784c12a5",
}

_RAW = "https://raw.githubusercontent.com"
_NLTK = f"{_RAW}/nltk/nltk/4dc39fbf6965509f7b74316eff239bd110a03b49/nltk_data/corpora/gutenberg"
# data-dir path -> (URL, SHA-256)
FILES = {
    "tokenizers/gpt2.tiktoken": (
        f"{_RAW}/openai/whisper/HEAD/whisper/assets/gpt2.tiktoken",
        "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    ),
    "babilong/test_100_idxs.json": (
        f"{_RAW}/booydar/babilong/HEAD/data/test_100_idxs.json",
        "aa0a2a8cc8e4d52a9a16913aab7e02bed3b0d114fa08a7c42b153473105e2540",
    ),
    "books/gutenberg/pg1342_pride-and-prejudice.txt": (
        f"{_RAW}/gutenbergbooks/1342/HEAD/1342-0.txt",
        "86dab871eec9c0cef97f4cb6313f86c6cc48f6f7809534e65cd3f1c1d486d247",
    ),
    "books/gutenberg/pg14263_katrine.txt": (
        f"{_RAW}/GITenberg/Katrine--A-Novel_14263/HEAD/14263.txt",
        "dc5bed18d3a90cda97ffeae03c59f97c182de19d3538628804a597db7b7e103b",
    ),
    "books/gutenberg/pg15122_little-colonels-hero.txt": (
        f"{_RAW}/GITenberg/The-Little-Colonel-s-Hero_15122/HEAD/15122.txt",
        "ce3d826810352aa6d091625e483814efa8c250949c42c0d85daae96ca85d5697",
    ),
    "books/gutenberg/pg16215_jack-sheppard.txt": (
        f"{_RAW}/GITenberg/Jack-Sheppard--A-Romance_16215/HEAD/16215.txt",
        "c1b00a72015340f131da3b139b4f28dc686d0c944536175c6442159bb2be6869",
    ),
    "books/gutenberg/pg16595_charles-dickens-and-music.txt": (
        f"{_RAW}/GITenberg/Charles-Dickens-and-Music_16595/HEAD/16595.txt",
        "a7e0c776e980107c7c27f8a52ec3b63ded46f335e71a86cef3bb7476335dbe3c",
    ),
    "books/gutenberg/pg3261_news-from-nowhere.txt": (
        f"{_RAW}/GITenberg/News-from-Nowhere--Or-An-Epoch-of-Rest--13-Being-Some-Chapters-from-a-Utopian-Romance_3261/HEAD/3261.txt",
        "e5182ca7efdcfdb806cc6c981df49e0d40a1b578ad1c22beb9db1e69872da914",
    ),
    "books/nltk_gutenberg/austen-emma.txt": (f"{_NLTK}/austen-emma.txt", "71b0923d75fcf2f1faa897b22da8de8e2476d7478a2b22388eb58a3420e00215"),
    "books/nltk_gutenberg/austen-persuasion.txt": (f"{_NLTK}/austen-persuasion.txt", "cec097657cbfeb62aafe178973f514fa07ab66a5e28ea025ebd5d51ca870e40f"),
    "books/nltk_gutenberg/austen-sense.txt": (f"{_NLTK}/austen-sense.txt", "57b169c7cfa502896dee25bd66616f61cc1d21084caf31f015176ee46fda9718"),
    "books/nltk_gutenberg/chesterton-ball.txt": (f"{_NLTK}/chesterton-ball.txt", "c6b6d4e8c09a3f49a09f37f4e47663d4d6f048b62d86c70ccafdfd8f27059a58"),
    "books/nltk_gutenberg/chesterton-brown.txt": (f"{_NLTK}/chesterton-brown.txt", "67027976205b4b30e367c704807f56c8ffac3e8ea6037d993e57ab1fe28447ec"),
    "books/nltk_gutenberg/chesterton-thursday.txt": (f"{_NLTK}/chesterton-thursday.txt", "8b431a2a8db84089cd6f83fa66610c3b12c04114609df6e90137c0c58f2c5493"),
    "books/nltk_gutenberg/melville-moby_dick.txt": (f"{_NLTK}/melville-moby_dick.txt", "dc2466ee3c2e6e2ea1f86233d142e4b5578fdc1d6f0ca657bee7572202a980c7"),
}


def add_parser(sub) -> None:
    p = sub.add_parser("download", help="fetch bAbI, Gutenberg books and the GPT-2 BPE file (needs a network)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dest", help="data folder to fill (default: --data-dir, else $MEMREASONER_DATA, else "
                                  "~/.cache/memreasoner/data, which is then used in place of the embedded default)")
    p.set_defaults(func=run)


def run(args) -> int:
    dest = Path(args.dest) if args.dest else chosen_data_dir() or download_dir()
    if dest == download_dir() and not dest.exists():
        # Its mere existence makes it the data dir: fill it under another name (a rerun resumes there), then rename.
        partial = dest.with_name(dest.name + ".part")
        download(partial, progress=print)
        partial.rename(dest)
    else:
        download(dest, progress=print)
    if dest == download_dir():
        print(f"data ready in {dest}; memreasoner uses it by default (no --data-dir or ${ENV_VAR} needed)")
    else:
        print(f"data ready in {dest}; use it with --data-dir {dest} or {ENV_VAR}={dest}")
    return 0


def fetch(url: str) -> bytes:
    """The bytes at `url`; an `InputError` (one line) when the network or the server fails."""
    import urllib.error  # here, not at module level: every `memreasoner` command imports this module
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise InputError(f"cannot download {url} ({reason}); is this machine online? Otherwise copy a data folder "
                         "laid out like ../shared/data and point --data-dir at it") from None


def download(dest: Path, progress: Callable[[str], None]) -> None:
    """Fetch whatever is missing or damaged under `dest`. `progress` hears a line before each download
    and one for each file found intact or installed."""
    import tarfile

    missing_babi = {rel: sha for rel, sha in BABI_FILES.items() if not _is_intact(dest / rel, sha)}
    if missing_babi:
        progress(f"fetching {BABI_ARCHIVE}")
        with tarfile.open(fileobj=io.BytesIO(fetch(BABI_ARCHIVE)), mode="r:gz") as archive:
            for rel, sha in missing_babi.items():
                member = "tasks_1-20_v1-2/" + rel.removeprefix("babi/")
                try:
                    data = archive.extractfile(member).read()
                except (KeyError, AttributeError):
                    raise InputError(f"the bAbI archive has no {member}", BABI_ARCHIVE) from None
                _install(dest / rel, data, sha, BABI_ARCHIVE)
    for rel in BABI_FILES:
        progress(f"ok {dest / rel}")
    for rel, (url, sha) in FILES.items():
        if not _is_intact(dest / rel, sha):
            progress(f"fetching {url}")
            _install(dest / rel, fetch(url), sha, url)
        progress(f"ok {dest / rel}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_intact(path: Path, sha: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == sha


def _install(path: Path, data: bytes, sha: str, url: str) -> None:
    """Write `data` to `path` only if its checksum is the expected one (atomically)."""
    got = _sha256(data)
    if got != sha:
        raise InputError(f"checksum mismatch for {url}: SHA-256 {got[:16]}..., expected {sha[:16]}...", path)
    write_atomic(path, data)
