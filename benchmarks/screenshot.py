"""The README's picture of the search page: ``searchkit serve`` of the seeds, photographed by headless Chromium.

    python benchmarks/screenshot.py --query "Caspian forum" --out docs/serve.png

Needs the serve extra, selenium and Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--query", default="Caspian forum")
    parser.add_argument("--out", default=str(REPO / "docs" / "serve.png"))
    parser.add_argument("--size", default="1100,820", help="window width,height in CSS pixels")
    args = parser.parse_args(argv)
    from selenium import webdriver

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        subprocess.run([sys.executable, "-m", "searchkit", "index", "seeds", "--index", str(index)], cwd=REPO,
                       check=True, stderr=subprocess.DEVNULL)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "searchkit", "serve", "--index", str(index), "--port",
                                   str(port)], cwd=REPO, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{url}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            options = webdriver.ChromeOptions()
            options.binary_location = shutil.which("chromium") or "chromium"
            for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
                             f"--window-size={args.size}", "--force-device-scale-factor=1"):
                options.add_argument(argument)
            driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
                executable_path=shutil.which("chromedriver") or "chromedriver"))
            try:
                driver.get(f"{url}/?{urlencode({'q': args.query})}")
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(args.out)
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"{args.out}: {Path(args.out).stat().st_size / 1000:.0f} KB", file=sys.stderr)


if __name__ == "__main__":
    main()
