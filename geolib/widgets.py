"""The widgets of notebook 06: the reasoning display and the learner-vs-model round.

They hold no logic of their own: the answers come from ``geolib.lvlm.predict``, the scores from
``geolib.game`` and ``geolib.geo``, the highlighting from ``geolib.lvlm.reasons``. Each widget keeps its
parts as attributes (``answer``, ``picture``, ``map``...), so that a test can set values, press buttons and
read what changed without a browser.

Maps are ipyleaflet maps with the country outlines drawn on them, so they are useful offline, where the
background tiles stay blank.
"""

from __future__ import annotations

import html
import io
from functools import lru_cache

import numpy as np

from geolib.errors import GeolibError


@lru_cache(maxsize=1)
def _outlines() -> dict:
    from geolib.geo.countries import country_polygons

    shapes = country_polygons()[["name", "geometry"]].copy()
    shapes["geometry"] = shapes.geometry.simplify(0.3)
    return shapes.__geo_interface__


def world_map(center=(20.0, 0.0), zoom: int = 1):
    """An ipyleaflet map with the country outlines as a layer."""
    from ipyleaflet import GeoJSON, Map

    world = Map(center=center, zoom=zoom, scroll_wheel_zoom=True, layout={"height": "320px"})
    world.add(GeoJSON(data=_outlines(), style={"color": "grey", "weight": 0.6, "fillOpacity": 0.03}))
    return world


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def overlay(image, mask, alpha: float = 0.5) -> np.ndarray:
    """The image with its ADE20K segmentation blended over it."""
    from geolib.viz import colorize_mask

    picture = np.asarray(image.convert("RGB").resize(mask.shape[::-1]), dtype=float)
    return (1 - alpha) * picture + alpha * colorize_mask(np.asarray(mask)).astype(float)


def _place_markers(world, points: dict[str, tuple[float, float]]) -> None:
    """Replace the map's markers: one per named point, and a line between truth and guess."""
    from ipyleaflet import Marker, Polyline

    for layer in list(world.layers[2:]):  # keep the tiles and the outlines
        world.remove(layer)
    for name, point in points.items():
        world.add(Marker(location=point, title=name, draggable=False))
    if len(points) == 2:
        world.add(Polyline(locations=list(points.values()), color="red", fill=False, weight=2))


class ReasoningDisplay:
    """Pick a view from the gallery (or upload an image): its segmentation and locatability, the model's
    answer with the clue words highlighted, and the guess and the truth on a map."""

    def __init__(self, views: list[dict], model, processor, segmenter=None, *, plan: str | None = None):
        import ipywidgets as w

        if not views:
            raise GeolibError("the gallery is empty")
        self.views = {str(v["id"]): v for v in views}
        self.model, self.processor, self.segmenter, self.plan = model, processor, segmenter, plan
        self.gallery = w.Dropdown(options=list(self.views), description="view")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="or upload")
        self.picture = w.Image(format="png", layout={"width": "256px"})
        self.segmentation = w.Image(format="png", layout={"width": "256px"})
        self.locatability = w.HTML()
        self.answer = w.HTML()
        self.distance = w.HTML()
        self.map = world_map()
        self.gallery.observe(lambda change: self.show(self.views[change["new"]]), names="value")
        self.upload.observe(self._uploaded, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.gallery, self.upload]),
                w.HBox([self.picture, self.segmentation, w.VBox([self.locatability, self.distance])]),
                self.answer,
                self.map,
            ]
        )
        self.record: dict | None = None
        self.show(self.views[self.gallery.value])

    def _uploaded(self, change) -> None:
        from PIL import Image, UnidentifiedImageError

        files = change["new"]
        if not files:
            return
        item = files[0]
        try:
            image = Image.open(io.BytesIO(bytes(item["content"]))).convert("RGB")
        except (UnidentifiedImageError, OSError):
            self.answer.value = (
                f"<b>{html.escape(item.get('name', 'the file'))} is not an image I can read</b>"
            )
            return
        self.show({"id": item.get("name", "upload"), "image": image})

    def show(self, view: dict) -> dict:
        """Answer about one view (a gallery dict with ``path``, or ``{"id", "image"}``) and show it all."""
        from geolib.geo.distance import geoscore, haversine_km
        from geolib.images import as_image
        from geolib.lvlm.predict import answer_views
        from geolib.lvlm.reasons import highlight_html

        image = as_image(view.get("image") or view["path"])
        self.picture.value = _png(np.asarray(image))
        if self.segmenter is not None:
            from geolib.locatability import locatability_from_fractions

            result = self.segmenter.segment([image], progress=False)
            self.segmentation.value = _png(overlay(image, result.masks[0]))
            score = float(locatability_from_fractions(result.fractions[0]))
            self.locatability.value = f"locatability <b>{score:.2f}</b> (GeoReasoner's formula)"
        record = answer_views(self.model, self.processor, [image], plan=self.plan, progress=False)[0]
        self.record = record
        said = ", ".join(v for v in (record["city"], record["country"]) if v) or "no readable answer"
        reasons = highlight_html(record["reasons"]) if record["reasons"] else "<i>no reasons given</i>"
        self.answer.value = f"<p><b>{html.escape(said)}</b></p><p>{reasons}</p>"
        points = {}
        if record["latitude"] is not None:
            points["guess"] = (record["latitude"], record["longitude"])
        if "latitude" in view:
            points["truth"] = (view["latitude"], view["longitude"])
        if len(points) == 2:
            km = float(haversine_km(*points["truth"], *points["guess"]))
            self.distance.value = f"{km:,.0f} km from the truth, GeoScore <b>{float(geoscore(km)):.0f}</b>"
        else:
            self.distance.value = (
                "no ground truth for this image" if "guess" in points else "no place guessed"
            )
        _place_markers(self.map, points)
        return record


class GameBoard:
    """The workshop round: the learner picks a country (and may click the map), presses Guess, and sees the
    model's answer, both scores and the leaderboard."""

    def __init__(self, game, countries: list[str] | None = None):
        import ipywidgets as w

        from geolib.world import countries as world_countries

        self.game = game
        names = countries or sorted(c.name for c in world_countries().values())
        self.country = w.Dropdown(options=names, description="country")
        self.pin: tuple[float, float] | None = None
        self.pin_label = w.HTML("no pin: your guess is placed inside the country")
        self.picture = w.Image(format="png", layout={"width": "256px"})
        self.button = w.Button(description="Guess", button_style="primary")
        self.result = w.HTML()
        self.board = w.HTML()
        self.map = world_map()
        self.map.on_interaction(self.on_map)
        self.button.on_click(lambda _: self.submit())
        self.widget = w.VBox(
            [
                w.HBox([self.picture, w.VBox([self.country, self.pin_label, self.button])]),
                self.map,
                self.result,
                self.board,
            ]
        )
        self._show_current()

    def on_map(self, **event) -> None:
        """ipyleaflet's interaction callback: a click puts the learner's pin there."""
        if event.get("type") != "click":
            return
        lat, lon = event["coordinates"]
        lon = (lon + 180) % 360 - 180  # a map scrolled sideways reports longitudes beyond ±180
        self.pin = (float(lat), float(lon))
        self.pin_label.value = f"pin at {lat:.2f}, {lon:.2f}"
        _place_markers(self.map, {"your pin": self.pin})

    def _show_current(self) -> None:
        from geolib.images import load_image

        view = self.game.current
        if view is None:
            self.button.disabled = True
            self.picture.value = b""
            return
        self.picture.value = _png(np.asarray(load_image(view["path"])))

    def submit(self):
        """Score the learner's guess against the model's for the current view and move to the next."""
        from geolib.geo.countries import country_name

        pin = self.pin or (None, None)
        result = self.game.guess(self.country.value, *pin)
        truth = country_name(result.truth_country) or result.truth_country
        model_country = country_name(result.model.country) if result.model.country else "no answer"
        self.result.value = (
            f"<p>It was <b>{html.escape(truth)}</b>. You: {result.you.points} points "
            f"({result.you.km:,.0f} km). Model: {html.escape(str(model_country))}, {result.model.points} points "
            f"({result.model.km:,.0f} km). <b>{'Draw' if result.winner == 'draw' else result.winner + ' win'}"
            f"{'s' if result.winner == 'model' else ''}</b>.</p>"
        )
        rows = "".join(
            f"<tr><td>{row['player']}</td><td>{row['right countries']} / {row['rounds']}</td>"
            f"<td>{row['points']}</td></tr>"
            for row in self.game.leaderboard()
        )
        self.board.value = (
            f"<table><tr><th>player</th><th>right countries</th><th>points</th></tr>{rows}</table>"
            + ("<p><b>Game over.</b></p>" if self.game.finished else "")
        )
        self.pin = None
        self.pin_label.value = "no pin: your guess is placed inside the country"
        _place_markers(self.map, {})
        self._show_current()
        return result


class SearchBox:
    """Type a description, press Search: the best tiles of an index (``geolib retrieval index``), their scores
    and their places on a map."""

    def __init__(self, index_dir, k: int = 5):
        import ipywidgets as w

        from geolib.retrieval.index import load_index
        from geolib.retrieval.model import load_retrieval_model

        self.index = load_index(index_dir)
        self.encoder = load_retrieval_model(self.index.settings["model"])
        self.k = k
        self.query = w.Textarea(
            placeholder="a residential street with a cafe on the left and a park nearby",
            layout={"width": "600px", "height": "70px"},
        )
        self.button = w.Button(description="Search", button_style="primary")
        self.tiles = w.HBox()
        self.message = w.HTML()
        self.map = world_map(center=self._centre(), zoom=14)
        self.button.on_click(lambda _: self.search())
        self.widget = w.VBox([w.HBox([self.query, self.button]), self.message, self.tiles, self.map])
        self.results: list[dict] = []

    def _centre(self) -> tuple[float, float]:
        lat = [item["latitude"] for item in self.index.items]
        lon = [item["longitude"] for item in self.index.items]
        return float(np.mean(lat)), float(np.mean(lon))

    def search(self) -> list[dict]:
        """Rank the index for the text in the box and show the top tiles."""
        import ipywidgets as w
        from ipyleaflet import Marker

        from geolib.images import load_image
        from geolib.retrieval.train import embed_texts

        text = self.query.value.strip()
        if not text:
            self.message.value = "<i>Type a description first.</i>"
            return []
        best, scores = self.index.search(embed_texts(self.encoder, [text]), self.k)
        self.results = [
            {**self.index.items[i], "score": float(s)} for i, s in zip(best[0], scores[0], strict=True)
        ]
        cards = []
        for rank, item in enumerate(self.results, 1):
            picture = w.Image(
                value=_png(np.asarray(load_image(item["path"]))), format="png", layout={"width": "128px"}
            )
            label = w.HTML(
                f"#{rank} · {item['score']:.3f}<br>{item['latitude']:.5f}, {item['longitude']:.5f}"
            )
            cards.append(w.VBox([picture, label]))
        self.tiles.children = cards
        _place_markers(self.map, {})
        for rank, item in enumerate(self.results, 1):
            self.map.add(
                Marker(location=(item["latitude"], item["longitude"]), title=f"#{rank}", draggable=False)
            )
        self.message.value = f"{len(self.results)} best of {len(self.index.items)} tiles"
        return self.results
