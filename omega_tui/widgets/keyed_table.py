"""A DataTable whose rows are keyed by stable ids and updated by diff.

`show_rows()` takes the rows to display, in order, as cells of plain text and
a style name. It removes the rows that went away, adds the new ones, and for
the rest touches only the cells whose text or style changed, refreshing only
those cells' regions of the screen (a plain `update_cell` repaints the whole
table, i.e. far more bytes over SSH). Rows are reordered only when the order
changed, and the cursor stays on the same key, so refreshes never move the
operator's selection or scroll position.

`show_keys()` is the same for thousands of rows: it takes the keys in order
and one function giving a key's cells. Only the rows in view (or next to it)
are worked out; a row out of view keeps the cells it last showed and is
brought up to date when it scrolls into view. A refresh then costs the
visible rows plus a few passes over the keys in C (diff, order), and a
reorder renumbers the rows without DataTable.sort()'s per-row Python.
Body lines are drawn in one pass, straight to their Strip (see `_render_line`).

Cells are `(text, style)` pairs. `text` must already be cleaned (see
safe_text) and fit the column; `style` is a space-separated list of theme
variable names (`error`, `warning`, `success`, `primary`, `muted`, ...) and
attributes (`bold`, `reverse`), resolved against the current theme, so every
theme (and NO_COLOR) applies to every cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.color import Color
from textual.content import Content
from textual._segment_tools import line_crop
from textual.geometry import Region
from textual.strip import Strip
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import Row as TableRow, RowKey

Cell = tuple[str, str]
Row = tuple[str, Sequence[Cell]]

_ATTRIBUTES = {"bold", "dim", "italic", "reverse", "underline", "strike"}
_VARIABLE_ALIASES = {"muted": "foreground-muted"}


def cell_content(cell: Cell) -> Content:
    """A cell as Content, for widgets other than tables: "warning bold" becomes "$warning bold"."""
    text, style = cell
    tokens = [t if t in _ATTRIBUTES else f"${_VARIABLE_ALIASES.get(t, t)}" for t in style.split()]
    return Content.styled(text, " ".join(tokens)) if tokens else Content(text)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    align_right: bool = False


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column that may be dropped on a narrow terminal (higher priority numbers first)."""

    key: str
    label: str
    width: int
    priority: int = 0
    align_right: bool = False
    max_width: int | None = None  # grows up to this when there is room


CELL_PADDING = 2          # DataTable's cell padding, both sides
MARK = "■"                # a marked row (space): its first cell starts with this
SCROLLBAR_ALLOWANCE = 2
VIEW_MARGIN = 5           # rows above and below the view kept up to date, for a smooth scroll
SPAN_GAP = 4              # unchanged characters between two changed runs of a cell that still make two regions


def fit_columns(specs: Sequence[ColumnSpec], available: int) -> list[Column]:
    """The columns that fit in `available` cells, in display order, grown to use the room left."""
    budget = available - SCROLLBAR_ALLOWANCE
    chosen: set[str] = set()
    used = 0
    for spec in sorted(specs, key=lambda s: s.priority):
        cost = spec.width + CELL_PADDING
        if spec.priority == 0 or used + cost <= budget:
            chosen.add(spec.key)
            used += cost
    widths = {spec.key: spec.width for spec in specs if spec.key in chosen}
    for spec in specs:
        if spec.key in chosen and spec.max_width:
            grow = min(spec.max_width - spec.width, max(0, budget - used))
            widths[spec.key] += grow
            used += grow
    return [Column(s.key, s.label, widths[s.key], s.align_right) for s in specs if s.key in chosen]


class _RowLines:
    """DataTable's `_y_offsets` (row key and line within the row, per line) for rows one line high."""

    __slots__ = ("_table",)

    def __init__(self, table: DataTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.row_count

    def __getitem__(self, y: int):
        if not 0 <= y < self._table.row_count:
            raise IndexError(y)
        return self._table._row_locations.get_key(y), 0

    def clear(self) -> None:
        pass


class KeyedTable(DataTable):
    """Rows keyed by id, updated in place by diff; see the module docstring."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="open"),
        # DataTable's home/end scroll sideways, which these tables never need: first/last row instead.
        # (No id: the help screen sums up the tables' navigation keys itself.)
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
    }
    KeyedTable:blur > .datatable--cursor {
        background: $panel;
        color: $foreground;
        text-style: none;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # Before super().__init__, which already calls refresh() and ordered_rows:
        self._cells_only = False
        self._order: list[str] = []
        self._order_changes = 0   # bumped whenever _order changes: keys the cache of ordered_rows
        self._ordered_rows: tuple[int, list] = (-1, [])
        self._row_meta: dict[str, TableRow] = {}   # DataTable's Row of each row, by plain string (no RowKey.__eq__)
        self.cells_rendered = 0   # for tests and measurements: body cells drawn since mounted
        self._pass_style: Style | None = None   # the widget's rich_style during render_lines()
        self._header_lines: dict[tuple, Strip] = {}   # the header line drawn last (see _header_line)
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self._table_columns: tuple[Column, ...] = ()
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._styles: dict[str, Style] = {}
        # show_keys(): the function giving a row's cells, and the rows worked out since it was given
        # (the others, out of view, still show older cells).
        self._produce: Callable[[str], Sequence[Cell]] | None = None
        self._fresh: set[str] = set()
        self._row_keys: dict[str, RowKey] = {}   # DataTable's key object of each row
        self.cells_updated = 0  # for tests and measurements: cells touched since mounted
        self.marked: set[str] = set()  # row keys marked by the operator; shown by show_rows()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    # -- what the screens call -------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        if not self._order or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self._order[self.cursor_row]

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return list(self._order)

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row `key`; False if there is no such row."""
        try:
            index = self._order.index(key)
        except ValueError:
            return False
        self.move_cursor(row=index, animate=False)
        return True

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Use these columns; rebuilds the table only when they differ from the current ones."""
        columns = tuple(columns)
        if columns == self._table_columns:
            return
        if [(c.key, c.width, c.align_right) for c in columns] == [
                (c.key, c.width, c.align_right) for c in self._table_columns]:
            # Only labels changed (the sort arrow): relabel, not rebuild thousands of rows.
            self._table_columns = columns
            for column in columns:
                self.columns[column.key].label = self._label(column)
            self._clear_caches()
            self.refresh()
            return
        cursor_key = self.cursor_key
        scroll_y = self.scroll_y
        old_columns = {c.key: i for i, c in enumerate(self._table_columns)}
        old_rows = {key: self._shown[key] for key in self._order}
        self._table_columns = columns
        self.clear(columns=True)
        self._row_keys, self._row_meta = {}, {}
        for column in columns:
            self.add_column(self._label(column), width=column.width, key=column.key)
        self._shown, self._order = {}, []
        self._order_changes += 1
        self._fresh = set()   # cells worked out for the old columns: again for the new ones
        blank: Cell = ("", "")
        for key, cells in old_rows.items():
            kept = tuple(cells[old_columns[c.key]] if c.key in old_columns else blank for c in columns)
            self._add(key, kept)
        if cursor_key is not None:
            self.select_key(cursor_key)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self._bring_into_view_up_to_date()

    def show_rows(self, rows: Iterable[Row]) -> None:
        """Display exactly `rows`, in this order, changing as little as possible.

        A key given twice (a store returning duplicate ids) is shown once, first one wins.
        """
        unique: dict[str, tuple[Cell, ...]] = {}
        for key, cells in rows:
            if key not in unique:
                unique[key] = self._with_mark(cells) if key in self.marked else tuple(cells)
        self._produce = None
        with self.app.batch_update():
            cursor_key = self._diff_keys(unique)
            for key, cells in unique.items():
                old = self._shown.get(key)
                if old is None:
                    self._add(key, cells)
                elif old != cells:
                    self._update(key, old, cells)
            self._settle(unique, cursor_key)

    def show_keys(self, keys: Iterable[str], produce: Callable[[str], Sequence[Cell]]) -> None:
        """Display the rows `keys`, in this order, each one's cells being `produce(key)`.

        `produce` is called only for the rows in view (or next to it), now and as others
        scroll into view, until the next call. A key given twice is shown once.
        """
        wanted = dict.fromkeys(keys)
        self._produce = produce
        self._fresh = set()
        with self.app.batch_update():
            cursor_key = self._diff_keys(wanted)
            shown = self._shown
            self._add_blank_rows([key for key in wanted if key not in shown])
            self._settle(wanted, cursor_key)

    def _diff_keys(self, wanted) -> str | None:
        """Remove the rows not in `wanted`; the cursor's key before, to keep it on its row."""
        cursor_key = self.cursor_key
        gone = {k for k in self._order if k not in wanted}
        if gone:
            self._remove_rows(gone)
        return cursor_key

    def _settle(self, wanted, cursor_key: str | None) -> None:
        """Put the rows in the order of `wanted`, the cursor back on its key, the rows in view up to date."""
        order = list(wanted)
        if order != self._order:
            self._reorder(order)
        if cursor_key is not None and cursor_key in wanted:
            index = self._order.index(cursor_key)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
        self._bring_into_view_up_to_date()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # A scroll repaints the whole view anyway: the rows brought up to date need no refresh of their own.
        self._bring_into_view_up_to_date(repaint=False)

    def on_resize(self) -> None:
        self._bring_into_view_up_to_date()

    def _bring_into_view_up_to_date(self, repaint: bool = True) -> None:
        """Work out the rows in view (or next to it) not worked out since show_keys()."""
        produce = self._produce
        if produce is None:
            return
        top = int(self.scroll_y)
        # Before the first layout the height is unknown: take the screen's, never the whole table.
        height = self.size.height or self.app.size.height
        rows = self._order[max(0, top - VIEW_MARGIN): top + height + VIEW_MARGIN]
        if self.cursor_key is not None:
            rows.append(self.cursor_key)
        fresh = self._fresh
        with self.app.batch_update():
            for key in rows:
                if key in fresh:
                    continue
                fresh.add(key)
                cells = tuple(produce(key))
                if key in self.marked:
                    cells = self._with_mark(cells)
                old = self._shown[key]
                if old == cells:
                    continue
                if repaint:
                    self._update(key, old, cells)
                else:
                    self._set_cells(key, old, cells)

    def toggle_mark(self, key: str) -> bool:
        """Mark or unmark `key` (the screen shows its rows again to display it); True if now marked."""
        if key in self.marked:
            self.marked.discard(key)
            return False
        self.marked.add(key)
        return True

    # -- internals ---------------------------------------------------------------

    def _with_mark(self, cells: Sequence[Cell]) -> tuple[Cell, ...]:
        if not cells or not self._table_columns:
            return tuple(cells)
        width = self._table_columns[0].width
        text, style = cells[0]
        marked = (MARK + (" " if width > 3 else "") + text.strip()) if text.strip() else MARK
        while cell_len(marked) > width:
            marked = marked[:-1]
        return ((marked, f"{style} accent bold".strip()),) + tuple(cells[1:])

    def _label(self, column: Column) -> Text:
        label = column.label.rjust(column.width) if column.align_right else column.label
        return Text(label, no_wrap=True, end="")

    def _text(self, column: Column, cell: Cell) -> Text:
        text, style = cell
        if column.align_right:
            text = " " * max(0, column.width - cell_len(text)) + text
        return Text(text, style=self._style(style), no_wrap=True, end="")

    def _blank_row(self) -> tuple[Cell, ...]:
        return (("", ""),) * len(self._table_columns)

    def _add_blank_rows(self, keys: list[str]) -> None:
        """Add rows `keys` at the end, blank until worked out, in one pass.

        DataTable.add_row() costs about 0.2 ms a row (new Text objects for each cell, the columns
        listed again, the cursor re-checked): clearing a filter that hid 10,000 rows took seconds.
        The rows added here share one blank Text per column.
        """
        if not keys:
            return
        had_rows = self.row_count > 0
        blank = self._blank_row()
        blank_texts = {self.columns[c.key].key: self._text(c, cell) for c, cell in zip(self._table_columns, blank)}
        rows, data, shown, row_keys, new_rows = self.rows, self._data, self._shown, self._row_keys, self._new_rows
        row_meta = self._row_meta
        for key in keys:
            row_key = row_keys[key] = RowKey(key)
            rows[row_key] = row_meta[key] = TableRow(row_key, 1)
            data[row_key] = blank_texts.copy()
            shown[key] = blank
            new_rows.add(row_key)
        self._set_locations(self._order + keys)
        self._update_count += 1
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if not had_rows and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()   # as add_row() does when the first row appears
        self.refresh()
        self.check_idle()

    def _add(self, key: str, cells: tuple[Cell, ...]) -> None:
        row_key = self._row_keys[key] = self.add_row(
            *(self._text(col, cell) for col, cell in zip(self._table_columns, cells)), key=key)
        self._row_meta[key] = self.rows[row_key]
        self._shown[key] = cells
        self._order.append(key)
        self._order_changes += 1

    def _update(self, key: str, old: tuple[Cell, ...], new: tuple[Cell, ...]) -> None:
        row_index = self.get_row_index(key)
        x = 0
        for column, before, after in zip(self._table_columns, old, new):
            width = self.columns[column.key].get_render_width(self)
            if before != after:
                self._cells_only = True
                try:
                    self.update_cell(key, column.key, self._text(column, after))
                finally:
                    self._cells_only = False
                for start, end in self._changed_spans(column, before, after, width):
                    self._refresh_cell(x + start, row_index, end - start)
                self.cells_updated += 1
            x += width
        self._shown[key] = new

    def _set_cells(self, key: str, old: tuple[Cell, ...], new: tuple[Cell, ...]) -> None:
        """Change a row's cells without refreshing its regions (the caller repaints the view)."""
        data = self._data[RowKey(key)]
        for column, before, after in zip(self._table_columns, old, new):
            if before != after:
                data[self.columns[column.key].key] = self._text(column, after)
                self.cells_updated += 1
        self._shown[key] = new
        self._update_count += 1   # DataTable's render caches are keyed on it

    def _changed_spans(self, column: Column, before: Cell, after: Cell, width: int) -> list[tuple[int, int]]:
        """Where in the cell (padding included) the new text differs from the old, as [start, end) runs.

        A sparkline cell whose value and last block changed is two short runs, not the whole
        cell: over SSH each refreshed region costs its characters plus the escape codes around them.
        """
        padding = self.cell_padding
        old_text, new_text = self._aligned(column, before[0]), self._aligned(column, after[0])
        if (before[1] != after[1] or len(old_text) != len(new_text)
                or cell_len(old_text) != len(old_text) or cell_len(new_text) != len(new_text)):
            return [(0, width)]   # a new style, or wide characters: the whole cell
        spans: list[tuple[int, int]] = []
        for index, (a, b) in enumerate(zip(old_text, new_text)):
            if a == b:
                continue
            if spans and index - spans[-1][1] < SPAN_GAP:   # close runs: one region is fewer bytes
                spans[-1] = (spans[-1][0], index + 1)
            else:
                spans.append((index, index + 1))
        return [(padding + start, padding + end) for start, end in spans] or [(0, width)]

    @staticmethod
    def _aligned(column: Column, text: str) -> str:
        text = text.ljust(column.width) if not column.align_right else text.rjust(column.width)
        return text

    def _refresh_cell(self, x: int, row_index: int, width: int) -> None:
        # Rows are one line high, so the cell's place follows from its index: no O(rows) lookup.
        y = row_index + (self.header_height if self.show_header else 0)
        region = Region(x, y, width, 1)
        visible = Region(int(self.scroll_x), int(self.scroll_y), self.size.width, self.size.height)
        if visible.overlaps(region):
            self.refresh(region.translate(-self.scroll_offset))

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False):
        # DataTable.update_cell() asks for a full repaint; _update() refreshes the cell's region instead.
        if self._cells_only and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _remove_rows(self, gone: set[str]) -> None:
        """Remove the rows `gone` in one pass.

        DataTable.remove_row() renumbers every row and re-checks the cursor for each row removed,
        so removing thousands one by one is quadratic (minutes at 10,000 rows), and even a few
        cost a pass over all 10,000 each (a filter typed). Here the row locations are rebuilt once.
        """
        # The cursor stays on its row, or else goes to the next row kept (as remove_row() would do).
        after_cursor = self._order[max(0, self.cursor_row):]
        cursor_key = next((key for key in after_cursor if key not in gone), None)
        for key in gone:
            del self.rows[key]
            del self._data[key]
            del self._shown[key]
            del self._row_keys[key]
            del self._row_meta[key]
        if self._updated_cells:
            self._updated_cells = {cell for cell in self._updated_cells if cell.row_key.value not in gone}
        self._new_rows = {row_key for row_key in self._new_rows if row_key.value not in gone}
        self._fresh -= gone
        self._set_locations([key for key in self._order if key not in gone])
        self._update_count += 1
        self._require_update_dimensions = True
        if cursor_key is None or not self.select_key(cursor_key):
            self.move_cursor(row=max(0, len(self._order) - 1), animate=False)
        self.hover_coordinate = self.hover_coordinate
        self.refresh(layout=True)
        self.check_idle()

    @property
    def _y_offsets(self) -> _RowLines:
        # DataTable lists every line of every row again after each cell update (O(rows) per scroll
        # or refresh); rows here are one line high, so line y is row y.
        return _RowLines(self)

    @property
    def ordered_rows(self) -> list:
        # DataTable rebuilds this list of every row after each cell update (it keys its cache on its
        # update count); here it changes only when the rows or their order do.
        changes, rows = self._ordered_rows
        if changes != self._order_changes or len(rows) != self.row_count:
            if len(self._order) == self.row_count:
                rows = list(map(self._row_meta.__getitem__, self._order))
            else:   # (only while set_columns() refills the table)
                rows = [self.rows[self._row_locations.get_key(index)] for index in range(self.row_count)]
            self._ordered_rows = (self._order_changes, rows)
        return rows

    def _get_row_region(self, row_index: int) -> Region:
        # DataTable adds up the heights of every row above (O(rows) per cursor move); rows are one line.
        region = super()._get_row_region(0) if self.is_valid_row_index(row_index) else Region(0, 0, 0, 0)
        return region._replace(y=region.y + row_index) if region else region

    def render_lines(self, crop: Region) -> list[Strip]:
        # DataTable.render_line() asks for the widget's rich_style for every line, and each time it
        # walks the ancestors' backgrounds (a tenth of the time a page of rows took): once a pass here.
        self._pass_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    def render_line(self, y: int) -> Strip:
        base_style = self._pass_style
        if base_style is None or self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A body line drawn in one pass, straight to its Strip. DataTable works out the cursor and
        hover styles and a Coordinate for every cell (with a row cursor they are the row's), then
        builds the line through three Strips (cropped, padded, merged). The strip is the same (tests
        compare both); the header (kept: see _header_line), labels, fixed rows or columns, other
        cursor types and a table scrolled sideways still go through DataTable."""
        width = self.size.width
        try:
            row_key, _ = self._get_offsets(y)
        except LookupError:
            row_key = None
        if row_key is self._header_row_key and self.cursor_type == "row":
            return self._header_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key) if row_key is not None else None
        cells = (self._shown.get(self._order[row_index])
                 if row_index is not None and 0 <= row_index < len(self._order) else None)
        if (cells is None or len(cells) != len(self._table_columns) or len(self.columns) != len(cells)
                or x1 != 0 or self.cursor_type != "row" or self.fixed_rows or self.fixed_columns
                or (self._labelled_row_exists and self.show_row_labels)):
            return super()._render_line(y, x1, x2, base_style)
        cache_key = (y, x1, x2, width, self.cursor_coordinate, self.hover_coordinate, base_style, self.cursor_type,
                     self._show_hover_cursor, self._update_count, self._pseudo_class_state)
        strip = self._line_cache.get(cache_key)
        if strip is None:
            strip = self._line_cache[cache_key] = self._draw_row(row_index, cells, base_style, width)
        return strip

    def _header_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """The header line, drawn by DataTable and kept while nothing it shows changes.

        DataTable keys the header's caches on the cursor and on a count of every cell update, so
        each key press and each refresh drew it again through Rich (a few milliseconds). With a
        row cursor it depends on none of them; whatever restyles the table clears this too."""
        hovered = self.hover_coordinate.row == -1 and self._show_hover_cursor
        key = (y, x1, x2, self.size.width, base_style, hovered, self.show_cursor, self._pseudo_class_state,
               self._table_columns)
        strip = self._header_lines.get(key)
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
            self._header_lines = {key: strip}
        return strip

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._header_lines = {}

    def notify_style_update(self) -> None:
        self._header_lines = {}
        super().notify_style_update()

    def _draw_row(self, row_index: int, cells: tuple[Cell, ...], base_style: Style, width: int) -> Strip:
        """The Strip of body row `row_index`, showing `cells`, `width` cells wide (see _render_line)."""
        row_style = self._get_row_style(row_index, base_style)
        cursor, hover = self.cursor_coordinate.row == row_index, self.hover_coordinate.row == row_index
        styles = self._row_styles(row_style, cursor, hover)
        padding = self.cell_padding
        segments: list[Segment] = []
        merged = True   # every cell's adjacent segments of one style already made one
        used = 0
        # Every column's width is fixed (set_columns): its render width is that and the padding.
        for column_index, (column, cell) in enumerate(zip(self._table_columns, cells)):
            cell_width = column.width + 2 * padding
            drawn = self._cell_segments(row_index, column_index, cell, cell_width, styles, padding, merge=True)
            if drawn is None:   # (wide or special characters: DataTable's way, not checked again)
                drawn = super()._render_cell(row_index, column_index, row_style, cell_width, cursor, hover)[0]
                merged = False
            segments.extend(drawn)
            used += cell_width
        # The rest of the line, as DataTable extends it.
        extend_style, _ = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False)
        extend_style = row_style + extend_style + Style.from_meta(
            {"row": row_index, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, width - used), extend_style))
        if merged and used <= width:
            return Strip(segments, width)
        return Strip(line_crop(segments, 0, width, max(width, used))).adjust_cell_length(width, base_style).simplify()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False):
        """A body cell drawn directly: DataTable renders every cell through Rich's Padding and Styled
        (a third of a millisecond each, so a page of new rows took over 100 ms). The segments are the
        same (tests compare both); anything unusual (wide or special characters, a cell that does not
        fit, header, labels, fixed rows or columns) still goes through DataTable."""
        segments = None
        if (0 <= row_index < len(self._order) and 0 <= column_index < len(self._table_columns)
                and not self.fixed_rows and not self.fixed_columns):
            cells = self._shown.get(self._order[row_index], ())
            if column_index < len(cells):
                styles = self._row_styles(base_style, cursor, hover)
                segments = self._cell_segments(row_index, column_index, cells[column_index], width, styles,
                                               self.cell_padding)
        if segments is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        return [segments]

    def _row_styles(self, row_style: Style, cursor: bool, hover: bool) -> tuple[Style, Style]:
        """The styles of a body row's cells, before and after the cell's own (see _cell_segments)."""
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )
        return row_style + component_style, post_style

    def _cell_segments(self, row_index: int, column_index: int, cell: Cell, width: int,
                       styles: tuple[Style, Style], padding: int, merge: bool = False) -> list[Segment] | None:
        """A plain one-line body cell's segments, given its row's styles (see _row_styles); None for
        a cell DataTable must draw (wide or special characters, or not fitting).
        `merge`: adjacent segments of one style made one, as Strip.simplify() would."""
        text, spec = cell
        column = self._table_columns[column_index]
        if column.align_right:
            text = " " * max(0, column.width - cell_len(text)) + text
        room = width - 2 * padding
        if len(text) > room or not text.isprintable() or cell_len(text) != len(text):
            return None
        self.cells_rendered += 1
        row_pre_style, post_style = styles
        # DataTable's pre-style is the row's style + the cell's click metadata + the cursor's style:
        # the same Style as the row's and the cursor's (summed once a row) + the metadata, which has
        # no colours or attributes. Then as Segment.apply_style(segments, pre_style, post_style)
        # styles each segment, with the sums worked out once per cell rather than twice per segment
        # (each a new Style: the metadata makes them unique, so Rich's cache of sums never hits).
        pre_style = row_pre_style + Style.from_meta({"row": row_index, "column": column_index})
        plain = pre_style + post_style if post_style else pre_style
        text_style = self._style(spec) if spec and text else None
        styled = plain if text_style is None else (
            pre_style + text_style + post_style if post_style else pre_style + text_style)
        pad = " " * padding
        fill = " " * (room - len(text))
        if merge:
            if styled == plain:
                return [Segment(pad + text + fill + pad, plain)]
            return [Segment(pad, plain), Segment(text, styled), Segment(fill + pad, plain)]
        segments = [Segment(pad, plain), Segment(text, styled)]
        if fill:
            segments.append(Segment(fill, plain))
        segments.append(Segment(pad, plain))
        return segments

    def _update_dimensions(self, new_rows) -> None:
        # Every column has a fixed width and every row is one line high: DataTable would measure
        # every cell of the new rows for nothing (seconds for 10,000 rows). Sizes are still updated.
        super()._update_dimensions(())

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort() calls a Python key function per row and is the only public way to
        # reorder; the order lives in _row_locations alone, which this sets directly (10,000 rows
        # reordered by a CPU sort every poll).
        self._set_locations(order)
        self._update_count += 1
        self.refresh()

    def _set_locations(self, order: list[str]) -> None:
        """Make `order` the rows' order, in DataTable's _row_locations too.

        Built from plain strings, without calling RowKey's Python __hash__ per row: a RowKey looks
        up its string (same hash, equal), and lookups by index still give DataTable's RowKey objects.
        """
        locations: TwoWayDict = TwoWayDict({})
        locations._forward = dict(zip(order, range(len(order))))
        locations._reverse = dict(enumerate(map(self._row_keys.__getitem__, order)))
        self._row_locations = locations
        self._order = order
        self._order_changes += 1

    def _style(self, spec: str) -> Style:
        if not spec:
            return Style.null()
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = self._resolve(spec)
        return style

    def _resolve(self, spec: str) -> Style:
        variables = self.app.theme_variables
        background = Color.parse(variables.get("background", "#000000"))
        style = Style.null()
        for token in spec.split():
            if token in _ATTRIBUTES:
                style += Style(**{token: True})
                continue
            value = variables.get(_VARIABLE_ALIASES.get(token, token))
            if not value:
                continue
            try:
                colour = background + Color.parse(value)
            except Exception:  # a variable that is not a plain colour (e.g. "auto 60%")
                continue
            style += Style(color=colour.rich_color)
        return style

    def _restyle(self) -> None:
        """Re-render every cell with the new theme's colours."""
        self._styles.clear()
        with self.app.batch_update():
            for key in self._order:
                for column, cell in zip(self._table_columns, self._shown[key]):
                    self.update_cell(key, column.key, self._text(column, cell))
