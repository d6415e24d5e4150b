"""beets plugin: ``beet tfmusictag [QUERY]`` tags the matched items with tfmusictag.

Install with ``pip install tfmusictag[beets]`` and add ``tfmusictag`` to ``plugins:`` in beets's
config. The items are tagged through tfmusictag's library store (:mod:`tfmusictag.library`), so a
track already tagged by the same model version is not tagged again, whichever tool asked. Each item
gets:

* ``tfm_tags``: the decided tags, ``; ``-separated (for a model without decisions, the tags at or
  above ``cut``) — a media field: ``beet write`` puts it into the file (``TFMUSICTAG_TAGS``, as
  ``python -m tfmusictag.library write`` does), and ``beet ls tfm_tags:dark`` finds it;
* ``tfm_<tag>``: each tag's probability (a flexible attribute: ``beet ls tfm_piano:0.5..``).

Configuration (``tfmusictag:`` in beets's config): ``model`` (default ``MTT_musicnn``: a SavedModel
folder, a run directory or a pretrained name), ``library`` (the store; default tfmusictag's),
``cut`` (0.5), ``threshold`` (decide every tag at this probability instead of the model's
thresholds; default none).
"""

import os
import re

from beets import ui
from beets.plugins import BeetsPlugin
from mediafile import MediaField, MP3DescStorageStyle, MP4StorageStyle, StorageStyle

#: The media field of the decided tags and the file field it is written to.
FIELD, FILE_FIELD = "tfm_tags", "TFMUSICTAG_TAGS"


def attribute(tag: str) -> str:
    """The flexible attribute of a tag's probability: ``tfm_`` and the tag in lower case, other
    characters as ``_`` (``female vocals`` → ``tfm_female_vocals``)."""
    return "tfm_" + re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


class TfmusictagPlugin(BeetsPlugin):
    def __init__(self):
        super().__init__()
        self.config.add({"model": "MTT_musicnn", "library": None, "cut": 0.5, "threshold": None})
        self.add_media_field(FIELD, MediaField(MP3DescStorageStyle(FILE_FIELD),
                                               MP4StorageStyle(f"----:tfmusictag:{FILE_FIELD}"),
                                               StorageStyle(FILE_FIELD)))
        # `beet write` looks for changes only among Item._media_tag_fields, which add_media_field
        # (beets 2.x) leaves as it was: without this, a changed tfm_tags would never be written
        from beets import library

        library.Item._media_tag_fields.add(FIELD)

    def commands(self):
        cmd = ui.Subcommand("tfmusictag", help="tag the matched items with tfmusictag (decided tags and probabilities)")
        cmd.parser.add_option("--model", default=None, help="the model (default: the config's, MTT_musicnn)")
        cmd.parser.add_option("--threshold", type="float", default=None,
                              help="decide every tag at this probability instead of the model's thresholds")
        cmd.func = self.run
        return [cmd]

    def run(self, lib, opts, args):
        from tfmusictag.errors import ParameterError
        from tfmusictag.library import Store, update

        items = list(lib.items(args))
        if not items:
            self._log.info("no item matches")
            return
        model = opts.model or self.config["model"].as_str()
        threshold = opts.threshold if opts.threshold is not None else self.config["threshold"].get()
        cut = float(self.config["cut"].get())
        try:
            with Store(self.config["library"].get()) as store:
                counts = update([os.fsdecode(item.path) for item in items], model, store, threshold=threshold)
                version = [m for m in store.models() if m["id"] == counts["model"]][0]
                results = {r["path"]: r for r in store.results(version["id"])}
        except ParameterError as exc:
            raise ui.UserError(str(exc)) from None
        decides = not version["decides"].startswith("no decisions")
        tagged = 0
        for item in items:
            result = results.get(os.path.abspath(os.fsdecode(item.path)))
            if result is None:
                self._log.warning("{}: not tagged (see `python -m tfmusictag.library status`)", ui.displayable_path(item.path))
                continue
            probs = result["probabilities"]
            decided = result["decided"] if decides else [t for t, p in sorted(probs.items(), key=lambda kv: -kv[1])
                                                          if p >= cut]
            item[FIELD] = "; ".join(decided)
            for tag, p in probs.items():
                item[attribute(tag)] = round(float(p), 4)
            item.store()
            tagged += 1
        ui.print_(f"tagged {tagged} items ({counts['tagged']} newly by the model {version['name']}, "
                  f"{counts['unchanged']} already in the store)")
