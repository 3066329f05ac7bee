#!/usr/bin/env python3
"""Regenerate samples/urls.csv (deterministic): a realistic incident export.

A few thousand URLs on reserved example domains, with what real lists hold:
quoted fields with commas, a handful of invalid records, duplicates, URLs the
simulator lists in FailUrls (`__fail__`) and two on a domain it refuses
(`__reject__`), so every status and the batch splitting show in the demo.
"""
import csv
import random
import sys

rng = random.Random(20261128)
hosts = [
    "static.example.com", "img.example.com", "video.example.com", "downloads.example.org",
    "cdn.example.net", "assets.shop.example.com", "media.news.example.org", "m.example.com",
]
kinds = [
    ("img", ["jpg", "png", "webp", "gif"]),
    ("video", ["mp4", "m3u8", "ts"]),
    ("js", ["js"]),
    ("css", ["css"]),
    ("releases", ["tar.gz", "zip", "dmg", "exe"]),
    ("fonts", ["woff2", "ttf"]),
]
words = ["banner", "hero", "logo", "promo", "thumb", "product", "launch", "summer", "sale", "app",
         "index", "player", "bundle", "vendor", "icon", "avatar", "cover", "poster", "clip", "guide"]

def url(i):
    host = rng.choice(hosts)
    kind, exts = rng.choice(kinds)
    name = f"{rng.choice(words)}-{rng.choice(words)}-{i:05d}.{rng.choice(exts)}"
    path = f"/{kind}/{rng.randint(2019, 2026)}/{rng.randint(1, 12):02d}/{name}"
    scheme = "https" if rng.random() < 0.85 else "http"
    roll = rng.random()
    if roll < 0.08:
        path += f"?v={rng.randint(1, 999)}"
    elif roll < 0.11:
        path = f"/resize/w={rng.choice([160, 320, 640])},h={rng.choice([90, 180, 360])}" + path
    return f"{scheme}://{host}{path}"

rows = []
for i in range(3000):
    rows.append(url(i))
for i, n in enumerate(rng.sample(range(3000), 12)):
    rows[n] = f"https://static.example.com/__fail__/expired-{i:02d}.jpg"
rows[1234] = "https://__reject__.legacy-cdn.example.net/img/old-logo.png"
rows[2345] = "https://__reject__.legacy-cdn.example.net/css/old.css"
for n in rng.sample(range(100, 3000), 25):
    rows.insert(n, rows[rng.randrange(0, n - 50)])
invalid = [
    "ftp://files.example.com/pub/archive.zip",
    "static.example.com/img/no-scheme.png",
    "",
    "http://",
    "https://www.example.com/path with space.jpg",
    "mailto:ops@example.com",
]
for n, bad in zip(rng.sample(range(50, len(rows)), len(invalid)), invalid):
    rows.insert(n, bad)

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["url", "blocked_at", "ticket"])
for i, u in enumerate(rows):
    out.writerow([u, f"2026-11-27T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z", f"INC-{4100 + i // 250}"])
