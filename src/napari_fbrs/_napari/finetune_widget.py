"""The ``f-BRS fine-tune`` dock widget: make the model better on the user's own labels.

The user picks labelled data (an image layer and a labels layer of the viewer, or a folder of
images/ + labels/), a starting model, a number of iterations and where to save. Training runs
in a worker thread (the viewer stays responsive) with a napari progress bar and can be
cancelled; the widget then reports validation NoC before and after on held-out data and offers
the new checkpoint in the segmentation widget's model chooser only when it got better (a worse
one is added only by *Keep anyway*). The work itself is
:func:`napari_fbrs.training.finetune.finetune_items`.

The actions (Fine-tune, Cancel, Keep anyway) sit above a scroll area that holds the rest, so
that they keep their height beside the segmentation dock on a short screen.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import napari
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    PushButton,
    RadioButtons,
    SpinBox,
)
from napari.layers import Image, Labels
from napari.qt.threading import FunctionWorker, create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from napari_fbrs.training.finetune import (
    FinetuneResult,
    LabelledImage,
    describe,
    finetune_items,
    folder_items,
)
from napari_fbrs.training.finetune_policy import (
    MIN_VERDICT_OBJECTS,
    FinetuneSettings,
    Verdict,
)

from .docking import ClosesWithDock
from .finetune_data import layer_pairs
from .model_choice import ModelSource, checkpoint_path, model_choices, register_checkpoint
from .slots import qt_slot

FROM_LAYERS, FROM_FOLDER = "viewer layers", "folder"
#: What a run does; tests shrink it. The defaults were chosen with benchmarks/bench_finetune.py.
SETTINGS = FinetuneSettings()
ITERATION_COST = (
    "One iteration = one optimiser step on a batch of {batch} crops of {crop} x {crop} px "
    "(about 1 s on a 2-core CPU with the encoder frozen, much less on a GPU); the status "
    "shows the measured time per iteration."
)
NOC_COST = (
    "Before and after training, NoC is measured on up to {objects} held-out objects with up to "
    "{clicks} simulated clicks each: at most {total} clicks of 0.1-1 s, measured at 20 s to "
    "2 minutes per measurement on a 2-core CPU (nuclei, EM cells); the status says when."
)
KEEP_HINT = (
    "Only a model that needs fewer clicks on your held-out objects is added to Weights; "
    "a worse one is added only if you press Keep anyway."
)
PHASES = {
    "before": "Measuring NoC with the starting model on {n} held-out objects at most...",
    "training": "Training: {n} iterations; the first one starts...",
    "export": "Saving the fine-tuned checkpoint...",
    "after": "Measuring NoC with the fine-tuned model on {n} held-out objects at most...",
}


class _StepSignal(QObject):
    """Carries progress from the training thread to the Qt thread (queued signals)."""

    stepped = Signal(int, int, float)
    phase = Signal(str, int)


class FinetuneWidget(ClosesWithDock):
    """Fine-tune a model on labelled images, with NoC before and after on held-out data."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)  # see widget.py
        self._make_controls()
        self.status = QLabel("Choose labelled data, a starting model and Fine-tune.")
        self.costs = QLabel(f"{_iteration_cost()} {_noc_cost()} {KEEP_HINT}")
        self.files = QLabel()
        self._lay_out()

        self.worker: FunctionWorker | None = None
        self.result: FinetuneResult | None = None
        self._unkept: Path | None = None  # a finished model that did not improve
        self._cancel = threading.Event()
        self._bar: progress | None = None
        self._signal = _StepSignal()
        self._signal.stepped.connect(self._on_step)
        self._signal.phase.connect(self._on_phase)
        self._closed = False
        self._started = 0.0
        self._connect()

    def _make_controls(self) -> None:
        """The form's fields and the action buttons (laid out by ``_lay_out``)."""
        self.data_source = RadioButtons(
            label="Data", choices=[FROM_LAYERS, FROM_FOLDER], value=FROM_LAYERS
        )
        self.image_choice = ComboBox(label="Image", choices=self._images)
        self.labels_choice = ComboBox(label="Labels", choices=self._labels)
        self.folder = FileEdit(label="Folder", mode="d", value=Path.home())
        self.model_choice = ComboBox(label="Start from", choices=lambda _w: model_choices())
        self.model_file = FileEdit(
            label="or file", mode="r", filter="*.pth", nullable=True, value=None
        )
        self.iterations = SpinBox(
            label="Iterations", value=SETTINGS.steps, min=1, max=100_000, step=10
        )
        self.iterations.tooltip = _iteration_cost()
        self.output = FileEdit(label="Save as", mode="w", filter="*.pth", value=_default_output())
        self.keep_run = CheckBox(
            text="Keep the copy of the data and the trainer's files (to resume; about 50 MB)"
        )
        self.start_button = PushButton(text="Fine-tune")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.keep_button = PushButton(text="Keep anyway", enabled=False)
        self.keep_button.tooltip = (
            "Add the fine-tuned model to Weights although it did not improve"
        )
        self.actions = Container(
            widgets=[self.start_button, self.cancel_button, self.keep_button],
            layout="horizontal",
            labels=False,
        )
        self.form = Container(
            widgets=[
                self.data_source,
                self.image_choice,
                self.labels_choice,
                self.folder,
                self.model_choice,
                self.model_file,
                self.iterations,
                self.output,
                self.keep_run,
            ]
        )

    def _connect(self) -> None:
        self.data_source.changed.connect(self._show_source)
        self.output.changed.connect(self._show_files)
        self.start_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.keep_button.changed.connect(self.keep_anyway)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.destroyed.connect(lambda *_: self._cancel.set())
        self._show_source()
        self._show_files()

    def _lay_out(self) -> None:
        """Actions and status on top (always visible), the form below them in a scroll area."""
        for label in (self.status, self.costs, self.files):
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        inner = QWidget()
        form_layout = QVBoxLayout(inner)
        form_layout.addWidget(self.form.native)
        form_layout.addWidget(self.files)
        form_layout.addWidget(self.costs)
        form_layout.addStretch(1)
        scroll = QScrollArea()  # a short dock scrolls the form instead of squashing the actions
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        scroll.setMinimumHeight(60)
        actions = self.actions.native
        actions.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        actions.setMinimumHeight(actions.sizeHint().height())
        layout = QVBoxLayout(self)
        layout.addWidget(actions)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)

    # -- choices ----------------------------------------------------------------------------
    def _images(self, _widget: ComboBox) -> list[Image]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _labels(self, _widget: ComboBox) -> list[Labels]:
        return [layer for layer in self.viewer.layers if isinstance(layer, Labels)]

    @qt_slot
    def _refresh_layers(self, _event: object = None) -> None:
        if self._closed:
            return
        self.image_choice.reset_choices()
        self.labels_choice.reset_choices()

    @qt_slot
    def _show_files(self, _value: object = None) -> None:
        output = _pth(self.output.value)
        self.files.setText(
            f"Writes {output.name}; while it runs, also {output.stem}_data/ (a copy of your "
            f"images and labels, split into train/ and val/) and {output.stem}_run/ (the "
            "trainer's files) beside it, both removed at the end unless kept."
        )

    @qt_slot
    def _show_source(self, _value: object = None) -> None:
        layers = self.data_source.value == FROM_LAYERS
        self.image_choice.visible = self.labels_choice.visible = layers
        self.folder.visible = not layers

    # -- running ----------------------------------------------------------------------------
    @qt_slot
    def start(self, _value: object = None) -> FunctionWorker | None:
        """Collect the data in the Qt thread, then train in a worker. None if refused."""
        if self.worker is not None and self.worker.is_running:
            self._say("A fine-tuning run is already going; cancel it first.")
            return None
        output = _pth(self.output.value)
        if output.exists():
            return self._refuse(f"{output} exists; choose another file name.")
        try:
            items = self._collect_layers() if self.data_source.value == FROM_LAYERS else None
        except ValueError as exc:
            return self._refuse(str(exc))
        folder = None if items is not None else Path(self.folder.value)
        source = self._start_source()
        settings = replace(SETTINGS, steps=int(self.iterations.value))
        self._cancel.clear()
        self._unkept, self.keep_button.enabled = None, False
        self._bar = progress(total=settings.steps, desc="f-BRS fine-tune")
        keep = bool(self.keep_run.value)
        self.worker = create_worker(
            _run, items, folder, source, output, settings, keep, self._hooks()
        )
        self.worker.returned.connect(self._on_done)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.start_button.enabled, self.cancel_button.enabled = False, True
        self._say(f"Preparing the data and loading the starting model ({source.name})...")
        self.worker.start()
        return self.worker

    @qt_slot
    def keep_anyway(self, _value: object = None) -> None:
        """Add the last fine-tuned model to Weights although it did not improve."""
        if self._unkept is None or not self._unkept.is_file():
            self._say("There is no fine-tuned model waiting to be kept.")
            return
        register_checkpoint(self._unkept)
        self.model_choice.reset_choices()
        self._say(f"Kept {self._unkept.name} anyway: it is now in the Weights list.")
        self._unkept, self.keep_button.enabled = None, False

    @qt_slot
    def cancel(self, _value: object = None) -> None:
        """Stop as soon as possible (in any phase); nothing is exported."""
        self._cancel.set()
        self._say("Cancelling: the run stops after the current object or step...")

    def close_plugin(self) -> None:
        """Stop a run (nothing is saved) and stop reporting to widgets that go away."""
        if self._closed:
            return
        self._closed = True
        self._cancel.set()
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.disconnect(self._refresh_layers)

    def _hooks(self) -> _Hooks:
        return _Hooks(self._signal, self._cancel)

    def _start_source(self) -> ModelSource:
        if self.model_file.value not in (None, "", Path(".")):
            return ModelSource("file", str(Path(self.model_file.value).expanduser()))
        return self.model_choice.value

    def _collect_layers(self) -> list[LabelledImage]:
        image, labels = self.image_choice.value, self.labels_choice.value
        if image is None or labels is None:
            raise ValueError("Choose an image layer and a labels layer with your objects.")
        return layer_pairs(image, labels)

    # -- results (Qt thread) -------------------------------------------------------------------
    @qt_slot
    def _on_phase(self, phase: str, detail: int) -> None:
        if self._closed:
            return
        self._started = time.perf_counter()
        self._say(PHASES[phase].format(n=detail))

    @qt_slot
    def _on_step(self, step: int, total: int, loss: float) -> None:
        if self._closed:
            return
        if self._bar is not None:
            self._bar.n = step
            self._bar.set_description(f"f-BRS fine-tune (loss {loss:.3f})")
            self._bar.refresh()
        per_step = (time.perf_counter() - self._started) / max(1, step)
        left = per_step * (total - step)
        self._say(
            f"Training: step {step} of {total}, loss {loss:.4f}; {per_step:.1f} s per "
            f"iteration here, about {left:.0f} s left, then NoC on the held-out objects."
        )

    @qt_slot
    def _on_done(self, result: FinetuneResult) -> None:
        self.result = result
        if self._closed:
            return
        text = describe(result)
        if result.checkpoint is not None:
            text += " " + self._offer(result.checkpoint, result.verdict)
            self.output.value = _default_output()
        show_info(f"f-BRS fine-tune: {text}")
        self._say(text)

    def _offer(self, checkpoint: Path, verdict: Verdict) -> str:
        """Add an improved model to Weights; hold any other back for Keep anyway."""
        if verdict.keep_by_default:
            register_checkpoint(checkpoint)
            self.model_choice.reset_choices()
            return "Better: it is now in the Weights list of the segmentation widget."
        self._unkept, self.keep_button.enabled = checkpoint, True
        why = {
            Verdict.WORSE: "It needs more clicks than the starting model",
            Verdict.UNCHANGED: "It needs as many clicks as the starting model",
            Verdict.UNMEASURED: "It could not be compared with the starting model",
            Verdict.TOO_FEW: (
                f"Fewer than {MIN_VERDICT_OBJECTS} labelled objects were held out, too few to "
                "tell whether it is better (label more images, a quarter is held out)"
            ),
        }[verdict]
        return (
            f"{why}, so it was not added to Weights and the previous model stays selected; "
            "press Keep anyway to add it."
        )

    @qt_slot
    def _on_error(self, exc: BaseException) -> None:
        if self._closed:
            return
        message = str(exc).strip() or type(exc).__name__
        show_error(f"f-BRS fine-tune: {message}")
        self._say(f"Fine-tuning failed: {message}")

    @qt_slot
    def _on_finished(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not self._closed:
            self.start_button.enabled, self.cancel_button.enabled = True, False

    def _refuse(self, message: str) -> None:
        show_error(f"f-BRS fine-tune: {message}")
        self._say(message)
        return None

    def _say(self, message: str) -> None:
        self.status.setText(message)


class _Hooks:
    """What the worker may touch: the progress signals and the cancel flag (thread-safe)."""

    def __init__(self, signal: _StepSignal, cancel: threading.Event) -> None:
        self.signal, self.cancel = signal, cancel

    def on_step(self, step: int, total: int, loss: float) -> bool:
        self._emit(self.signal.stepped, step, total, loss)
        return not self.cancel.is_set()

    def on_phase(self, phase: str, detail: int) -> None:
        self._emit(self.signal.phase, phase, detail)

    def should_stop(self) -> bool:
        return self.cancel.is_set()

    def _emit(self, signal, *args) -> None:  # noqa: ANN001, ANN002
        try:
            signal.emit(*args)
        except RuntimeError:  # the widget was deleted (viewer closed): stop quietly
            self.cancel.set()


def _run(
    items: list[LabelledImage] | None,
    folder: Path | None,
    source: ModelSource,
    output: Path,
    settings: FinetuneSettings,
    keep_files: bool,
    hooks: _Hooks,
) -> FinetuneResult:
    """Worker body: read a folder, resolve the starting weights, fine-tune (core)."""
    if items is None:
        assert folder is not None
        items = folder_items(folder)
    init = checkpoint_path(source)
    return finetune_items(
        items,
        init,
        output,
        settings,
        on_step=hooks.on_step,
        should_stop=hooks.should_stop,
        on_phase=hooks.on_phase,
        keep_files=keep_files,
    )


def _iteration_cost() -> str:
    return ITERATION_COST.format(batch=SETTINGS.batch_size, crop=SETTINGS.crop_size)


def _noc_cost() -> str:
    s = SETTINGS
    return NOC_COST.format(
        objects=s.validation_samples, clicks=s.max_clicks, total=s.max_noc_clicks
    )


def _pth(value: object) -> Path:
    output = Path(str(value)).expanduser()
    return output if output.suffix == ".pth" else output.with_suffix(".pth")


def _default_output() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path.home() / "napari-fbrs" / f"finetuned-{stamp}.pth"
