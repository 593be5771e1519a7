"""What the suite's last tests share: the secrets the tests listed in the suite's log folder, the
numbered lines of the files they check, and how they report what they found."""
import pathlib
from typing import Iterator


def listed_secrets(log_dir: pathlib.Path) -> list[str]:
    """The secrets the tests wrote into LOG_DIR/secrets.txt, one a line."""
    secrets_file = log_dir / "secrets.txt"
    return sorted({line for line in secrets_file.read_text().splitlines() if line}) if secrets_file.exists() else []


def numbered_lines(paths: list[pathlib.Path]) -> Iterator[tuple[str, str]]:
    """("file:line", text) for every line of every file."""
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            yield f"{path.name}:{number}", line


def secrets_in(line: str, secrets: list[str]) -> list[str]:
    return [f"holds the secret {secret[:6]}..." for secret in secrets if secret in line]


def report(summary: str, findings: list[str]) -> int:
    """Prints the summary and each finding; the exit status: 1 when anything was found."""
    print(summary)
    for finding in findings:
        print(finding)
    return 1 if findings else 0
