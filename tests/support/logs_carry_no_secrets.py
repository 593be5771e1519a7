"""The suite's last test: no log any gateway wrote during the suite holds a secret a test configured.

Usage: logs_carry_no_secrets.py LOG_DIR
LOG_DIR holds the logs (*.log) and secrets.txt, one secret per line, as the tests wrote them."""
import pathlib
import sys

from suite_logs import listed_secrets, numbered_lines, report, secrets_in


def main(log_dir: pathlib.Path) -> int:
    secrets = listed_secrets(log_dir)
    logs = sorted(path for path in log_dir.glob("*.log") if path.is_file())
    if not secrets:
        print(f"no test that ran configured a secret; {len(logs)} logs not checked")
        return 0
    if not logs:
        print(f"{len(secrets)} secrets were configured but no gateway left a log in {log_dir}: the logs are not being collected")
        return 1
    leaks, lines = [], 0
    for where, line in numbered_lines(logs):
        lines += 1
        leaks += [f"{where}: {found}" for found in secrets_in(line, secrets)]
    return report(f"checked {len(secrets)} secrets against {len(logs)} logs ({lines} lines)", leaks)


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
