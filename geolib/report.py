"""``geolib report``: predictions as one self-contained HTML page to share without Jupyter.

Everything is inside the file: images and the map as base64 data URIs, styles inline, no script and no
link to anything. The page is also well-formed XML, so that a test (or any XML tool) can read it back.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from geolib.errors import GeolibError

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}.card{display:flex;gap:1em;border-bottom:1px solid #ddd;padding:.8em 0}
.card img{width:160px;height:160px;object-fit:cover;border-radius:4px}.ok{color:#1a7f37}.bad{color:#b42318}
mark{background:#fff3b0}.raw{color:#666;font-size:.85em;white-space:pre-wrap}
"""


def _data_uri(image, size: int = 160) -> str:
    image = image.copy()
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_of(path_text: str, base: Path):
    """The row's image, as given or relative to the predictions' folder; None if it cannot be read."""
    from geolib.errors import DataError
    from geolib.images import load_image

    if not path_text:
        return None
    for candidate in (Path(path_text), base / path_text):
        try:
            return load_image(candidate)
        except DataError:
            continue
    return None


def _metrics_table(metrics: dict) -> str:
    rows = [
        f"<tr><th>{name}</th><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td><td>{m['f1']:.3f}</td>"
        f"<td>{m['correct']} / {m['total']}</td></tr>"
        for name, m in (("country", metrics["country"]), ("city", metrics["city"]))
    ]
    distance = metrics["distance"]
    thresholds = [key for key in distance if key.startswith("acc@")]
    return (
        "<table><tr><th></th><th>precision</th><th>recall</th><th>F1</th><th>correct</th></tr>"
        + "".join(rows)
        + "</table><table><tr>"
        + "".join(f"<th>{html.escape(key)}</th>" for key in thresholds)
        + "<th>GeoScore</th><th>median km</th><th>unreadable answers</th></tr><tr>"
        + "".join(f"<td>{distance[key]:.3f}</td>" for key in thresholds)
        + f"<td>{distance['geoscore']:.0f}</td><td>{distance['median_km']:.0f}</td>"
        + f"<td>{metrics['unreadable_answers']['count']}</td></tr></table>"
    )


def _card(row: dict, truth, prediction, base: Path) -> str:
    from geolib.geo.countries import country_name, normalize_country
    from geolib.geo.distance import geoscore, haversine_km
    from geolib.geo.evaluate import place_of
    from geolib.lvlm.reasons import highlight_html

    image = _image_of(str(row.get("path") or ""), base)
    picture = (
        f'<img src="{_data_uri(image)}" alt="{html.escape(truth.id)}"/>'
        if image is not None
        else "<div>(image not found)</div>"
    )
    guessed = normalize_country(prediction.country) if prediction.country else None
    point = (
        (prediction.latitude, prediction.longitude)
        if prediction.latitude is not None
        else place_of(prediction.country, prediction.city)
    )
    km = float(haversine_km(truth.latitude, truth.longitude, *point)) if point else float("inf")
    verdict = "ok" if guessed == truth.country else "bad"
    said = ", ".join(v for v in (prediction.city, prediction.country) if v) or "(no answer)"
    true_place = ", ".join(v for v in (truth.city, country_name(truth.country) or truth.country) if v)
    reasons = row.get("reasons")
    reasons = reasons if isinstance(reasons, str) and reasons.strip() else ""
    return (
        f'<div class="card">{picture}<div><b>{html.escape(truth.id)}</b>'
        f'<div class="{verdict}">guess: {html.escape(said)}</div>'
        f"<div>truth: {html.escape(true_place)}</div>"
        f"<div>{km:,.0f} km, GeoScore {float(geoscore(km)):.0f}</div>"
        + (f"<p>{highlight_html(reasons)}</p>" if reasons else "")
        + (
            f'<div class="raw">unreadable answer: {html.escape(prediction.problem)}</div>'
            if prediction.problem
            else ""
        )
        + "</div></div>"
    )


def _map_uri(predictions, truths) -> str | None:
    import matplotlib.pyplot as plt

    from geolib.geo.evaluate import place_of
    from geolib.geo.maps import plot_predictions_map

    by_id = {p.id: p for p in predictions}
    pairs = []
    for truth in truths:
        p = by_id.get(truth.id)
        point = None
        if p is not None:
            point = (p.latitude, p.longitude) if p.latitude is not None else place_of(p.country, p.city)
        if point:
            pairs.append((truth.latitude, truth.longitude, *point))
    if not pairs:
        return None
    fig, ax = plt.subplots(figsize=(11, 5.5))
    plot_predictions_map(*zip(*pairs, strict=True), ax=ax, title="truth (dot) to guess (cross)")
    return _figure_uri(fig)


def write_report(predictions_path, truth_path, out, *, limit: int = 200, title: str | None = None) -> str:
    """Write the HTML report of ``predictions_path`` against ``truth_path`` to ``out``; returns a one-line
    summary. The gallery shows the first ``limit`` predictions; the metrics and the map cover all."""
    from geolib.geo.evaluate import evaluate, read_predictions, read_rows, read_truth
    from geolib.iox import check_writable, write_text

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise GeolibError(f"--limit must be a whole number of at least 0, got {limit!r}")
    predictions_path, out = Path(predictions_path), Path(out)
    check_writable(out)
    skipped: list[dict] = []
    truths = read_truth(truth_path, skipped=skipped)
    known = {t.id for t in truths} | {s["id"] for s in skipped}
    predictions = read_predictions(predictions_path, known_ids=known)
    rows = {str(row.get("id")).strip(): row for row in read_rows(predictions_path)}
    metrics = evaluate(predictions, truths, skipped_truth=skipped)
    truth_of = {t.id: t for t in truths}
    shown = [p for p in predictions if p.id in truth_of][:limit]
    cards = "".join(_card(rows.get(p.id, {}), truth_of[p.id], p, predictions_path.parent) for p in shown)
    map_uri = _map_uri(predictions, truths)
    heading = html.escape(title or f"Predictions: {predictions_path.name}")
    page = (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
        f"<title>{heading}</title><style>{STYLE}</style></head><body>"
        f"<h1>{heading}</h1><p>{len(predictions)} predictions against {len(truths)} ground-truth views "
        f"({html.escape(Path(truth_path).name)}).</p><h2>Metrics</h2>{_metrics_table(metrics)}"
        + (f'<h2>Map</h2><img src="{map_uri}" alt="map of truths and guesses"/>' if map_uri else "")
        + f"<h2>Gallery ({len(shown)} of {len(predictions)})</h2>{cards}</body></html>\n"
    )
    write_text(out, page)
    country = metrics["country"]
    return (
        f"wrote {out}: {len(shown)} views shown; country accuracy {country['accuracy']:.3f}, "
        f"GeoScore {metrics['distance']['geoscore']:.0f}"
    )
