from memreasoner.data.babi import guess_task
from memreasoner.paths import TASK_FILES, babi_file


def test_task_files_name_every_babi_task_and_its_files(data_dir):
    assert list(TASK_FILES) == [f"qa{i}" for i in range(1, 21)]
    assert {path.name.rsplit("_", 1)[0] for path in (data_dir / "babi/en").glob("*.txt")} == set(TASK_FILES.values())
    for task in TASK_FILES:
        for split in ("train", "test"):
            path = babi_file(task, split)
            assert path.is_file() and guess_task(path) == task
