"""The suite's last test: no log any gateway wrote during the suite holds a secret a test configured.

Usage: logs_carry_no_secrets.py LOG_DIR
LOG_DIR holds the logs (*.log) and secrets.txt, one secret per line, as the tests wrote them."""
import pathlib
import sys


def main(log_dir: pathlib.Path) -> int:
    secrets_file = log_dir / "secrets.txt"
    secrets = sorted({line for line in secrets_file.read_text().splitlines() if line}) if secrets_file.exists() else []
    logs = sorted(path for path in log_dir.glob("*.log") if path.is_file())
    if not secrets:
        print(f"no test that ran configured a secret; {len(logs)} logs not checked")
        return 0
    if not logs:
        print(f"{len(secrets)} secrets were configured but no gateway left a log in {log_dir}: the logs are not being collected")
        return 1
    leaks, lines = [], 0
    for path in logs:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            lines += 1
            leaks += [f"{path.name}:{number}: holds the secret {secret[:6]}..." for secret in secrets if secret in line]
    print(f"checked {len(secrets)} secrets against {len(logs)} logs ({lines} lines)")
    for leak in leaks:
        print(leak)
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
