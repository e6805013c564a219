"""Exact TreeSHAP contributions for a LightGBM booster, at a fraction of `pred_contrib`'s cost.

`TreeExplainer.from_booster(booster)` reads the booster's text model once (trees, thresholds,
category bitsets, missing-value rules, data counts) and tabulates, per leaf, its Shapley values
for every combination of path conditions a row can meet (see `models.treeshap_kernels`).
`contributions(matrix)` then returns the same matrix as `booster.predict(matrix,
pred_contrib=True)`: one column per feature plus the expected value (bias) last, equal to
LightGBM's within float rounding (tests hold it to 1e-9).

Why not LightGBM's own: `pred_contrib` re-derives the same path weights for every row and
every leaf (38-68 times a raw prediction in batches on the default city's champions). Why not
a package: `fasttreeshap` (the reference Fast TreeSHAP v2) last released in June 2023, and its
NumPy 2 compatibility comes only from a fork first published in 2026 (`fasttreeshap-fixed`);
numba (BSD licence, binary wheels, already installed as shap's dependency) keeps the kernels
in ~300 lines of our own, tested against LightGBM itself rather than trusted.

A model holding anything the tables do not model (several trees per iteration, averaged
output as in random forests, linear trees, a node with no data count, a path over 62 distinct
features) is logged once, when the explainer is built, and explained by `pred_contrib`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Path length (distinct features) a leaf's tables are built for; deeper leaves are computed per
# row (exact, slower). The training search's max_depth is at most 6.
MAX_PATH_FEATURES = 62
# Largest summed table (entries) a subtree gets; above it the subtree is split into its children.
# Measured on the default city's champions (depth 5, ~15 leaves): 2,048 entries (16 KiB).
BLOCK_ENTRIES = 2048
# A lone leaf is tabulated up to this many distinct path features (8 Ki entries), else computed
# per row.
TABLE_MAX_D = 10


class UnsupportedModel(ValueError):
    """The booster holds something the fast path does not model; `pred_contrib` is used."""


@dataclass(frozen=True)
class _Tree:
    """One tree as LightGBM's text model stores it (internal nodes 0..n-1, leaves ~child)."""

    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    leaf_value: np.ndarray
    leaf_count: np.ndarray
    internal_count: np.ndarray
    cat_boundaries: np.ndarray
    cat_threshold: np.ndarray


def _array(fields: dict[str, str], key: str, dtype: Any, required: bool = True) -> np.ndarray:
    text = fields.get(key)
    if text is None:
        if required:
            raise UnsupportedModel(f"the text model has no {key!r} for a tree")
        return np.empty(0, dtype=dtype)
    return np.array(text.split(), dtype=dtype) if text.strip() else np.empty(0, dtype=dtype)


def _parse_model(text: str) -> tuple[int, list[_Tree]]:
    """The feature count and the trees of a LightGBM text model (`model_to_string`)."""
    blocks = text.split("\nTree=")
    header: dict[str, str] = dict(
        line.split("=", 1) for line in blocks[0].splitlines() if "=" in line
    )
    if "average_output" in blocks[0].splitlines():
        raise UnsupportedModel("the model averages its trees (random forest)")
    if int(header.get("num_tree_per_iteration", "1")) != 1:
        raise UnsupportedModel("the model has several trees per iteration (multiclass)")
    n_features = int(header["max_feature_idx"]) + 1
    trees: list[_Tree] = []
    for block in blocks[1:]:
        body = block.split("\nend of trees", 1)[0]
        fields = dict(line.split("=", 1) for line in body.splitlines()[1:] if "=" in line)
        if fields.get("is_linear", "0").strip() not in ("0", ""):
            raise UnsupportedModel("the model has linear trees")
        num_leaves = int(fields["num_leaves"])
        tree = _Tree(
            split_feature=_array(fields, "split_feature", np.int64),
            threshold=_array(fields, "threshold", np.float64),
            decision_type=_array(fields, "decision_type", np.int64),
            left_child=_array(fields, "left_child", np.int64),
            right_child=_array(fields, "right_child", np.int64),
            leaf_value=_array(fields, "leaf_value", np.float64),
            leaf_count=_array(fields, "leaf_count", np.float64),
            internal_count=_array(fields, "internal_count", np.float64),
            cat_boundaries=_array(fields, "cat_boundaries", np.int64, required=False),
            cat_threshold=_array(fields, "cat_threshold", np.uint32, required=False),
        )
        if len(tree.leaf_value) != num_leaves or len(tree.left_child) != num_leaves - 1:
            raise UnsupportedModel("a tree's arrays do not match its num_leaves")
        if num_leaves > 1 and (
            len(tree.leaf_count) != num_leaves or len(tree.internal_count) != num_leaves - 1
        ):
            raise UnsupportedModel("a tree lacks the data counts TreeSHAP weights by")
        if num_leaves > 1 and (np.any(tree.leaf_count <= 0) or np.any(tree.internal_count <= 0)):
            raise UnsupportedModel("a tree has a node no training row reached (count 0)")
        trees.append(tree)
    return n_features, trees


def _expected_value(tree: _Tree) -> float:
    """LightGBM's `Tree::ExpectedValue`, in its order: the bias column's share of this tree."""
    if len(tree.leaf_value) == 1:
        return float(tree.leaf_value[0])
    total = float(tree.internal_count[0])
    value = 0.0
    for count, leaf_value in zip(tree.leaf_count.tolist(), tree.leaf_value.tolist(), strict=True):
        value += (count / total) * leaf_value
    return value


_INT_FIELDS = (
    "tree_node_off",
    "tree_n_nodes",
    "tree_block_off",
    "tree_n_blocks",
    "node_feature",
    "node_decision",
    "node_cat_off",
    "node_cat_words",
    "leaf_path_off",
    "leaf_path_len",
    "leaf_d",
    "leaf_slot_off",
    "leaf_table_off",
    "path_node",
    "path_slot",
    "slot_feature",
    "block_path_off",
    "block_depth",
    "block_prefix_d",
    "block_node_off",
    "block_n_nodes",
    "block_u_off",
    "block_u_len",
    "block_table_off",
    "block_leaf",
    "block_leaf_off",
    "block_n_leaves",
    "block_leaves",
    "block_nodes",
    "u_feature",
)


class _Flat:
    """Every tree of a model as flat arrays, the layout the kernels read.

    Leaves: their root path (node, direction, feature slot), distinct path features (slots, in
    order of first appearance, so every leaf under a node shares that node's slot order) and
    cover fractions. Blocks: the subtrees whose summed table stays within `BLOCK_ENTRIES`
    (a whole subtree is one lookup and one add per feature instead of one per leaf and path
    feature); a leaf too deep for a table is its own untabulated block.
    """

    def __init__(self, block_entries: int, table_max_d: int) -> None:
        self.block_entries = block_entries
        self.table_max_d = table_max_d
        self.ints: dict[str, list[int]] = {name: [] for name in _INT_FIELDS}
        self.node_threshold: list[float] = []
        self.cat_bits: list[int] = []
        self.path_left: list[bool] = []
        self.leaf_value: list[float] = []
        self.slot_z: list[float] = []
        self.bias = 0.0
        self.n_nodes = 0
        self.n_table = 0
        self.n_leaf_table = 0
        self.max_nodes = 0
        self.max_d = 0

    def int_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(values, dtype=np.int64) for name, values in self.ints.items()}

    def path_left_array(self) -> np.ndarray:
        return np.asarray(self.path_left, dtype=np.bool_)

    def add_tree(self, tree: _Tree) -> None:
        """Append one tree: nodes, leaves (depth-first), then its blocks from the root down."""
        ints = self.ints
        self.bias += _expected_value(tree)
        internal = len(tree.left_child)
        ints["tree_node_off"].append(self.n_nodes)
        ints["tree_n_nodes"].append(internal)
        ints["tree_block_off"].append(len(ints["block_path_off"]))
        if internal == 0:
            ints["tree_n_blocks"].append(0)  # a single leaf only moves the bias
            return
        ints["node_feature"].extend(tree.split_feature.tolist())
        self.node_threshold.extend(tree.threshold.tolist())
        ints["node_decision"].extend(tree.decision_type.tolist())
        cat_off = [0] * internal
        cat_words = [0] * internal
        for node in np.flatnonzero(tree.decision_type & 1).tolist():
            index = int(tree.threshold[node])
            cat_off[node] = len(self.cat_bits) + int(tree.cat_boundaries[index])
            cat_words[node] = int(tree.cat_boundaries[index + 1] - tree.cat_boundaries[index])
        ints["node_cat_off"].extend(cat_off)
        ints["node_cat_words"].extend(cat_words)
        self.cat_bits.extend(tree.cat_threshold.tolist())
        self.max_nodes = max(self.max_nodes, internal)
        self.n_nodes += internal

        leaf_ids: dict[int, int] = {}
        depth = [0] * internal
        prefix: list[list[int]] = [[] for _ in range(internal)]
        first_leaf = [0] * internal
        stack: list[tuple[int, list[tuple[int, bool, int, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            depth[node] = len(path)
            prefix[node] = list(dict.fromkeys(step[2] for step in path))
            parent_count = float(tree.internal_count[node])
            feature = int(tree.split_feature[node])
            for child, goes_left in (
                (tree.right_child[node], False),
                (tree.left_child[node], True),
            ):
                child = int(child)
                count = tree.internal_count[child] if child >= 0 else tree.leaf_count[~child]
                step = [*path, (node, goes_left, feature, float(count) / parent_count)]
                if child >= 0:
                    stack.append((child, step))
                else:
                    leaf_ids[~child] = self._add_leaf(step, float(tree.leaf_value[~child]))
        for node in range(internal - 1, -1, -1):  # children have larger indices than parents
            left = int(tree.left_child[node])
            first_leaf[node] = first_leaf[left] if left >= 0 else leaf_ids[~left]
        blocks = self._blocks(tree, 0, depth, prefix, first_leaf, leaf_ids)
        ints["tree_n_blocks"].append(blocks)

    def _add_leaf(self, path: list[tuple[int, bool, int, float]], value: float) -> int:
        ints = self.ints
        features: list[int] = []
        fractions: list[float] = []
        ints["leaf_path_off"].append(len(ints["path_node"]))
        for node, goes_left, feature, fraction in path:
            if feature in features:
                slot = features.index(feature)
                fractions[slot] *= fraction
            else:
                slot = len(features)
                features.append(feature)
                fractions.append(fraction)
            ints["path_node"].append(node)
            self.path_left.append(goes_left)
            ints["path_slot"].append(slot)
        if len(features) > MAX_PATH_FEATURES:
            raise UnsupportedModel(f"a leaf's path splits on {len(features)} distinct features")
        ints["leaf_path_len"].append(len(path))
        ints["leaf_d"].append(len(features))
        ints["leaf_slot_off"].append(len(ints["slot_feature"]))
        ints["leaf_table_off"].append(-1)
        ints["slot_feature"].extend(features)
        self.slot_z.extend(fractions)
        self.leaf_value.append(value)
        self.max_d = max(self.max_d, len(features))
        return len(self.leaf_value) - 1

    def _subtree(
        self, tree: _Tree, node: int, leaf_ids: dict[int, int]
    ) -> tuple[list[int], list[int]]:
        """Internal nodes (preorder) and global leaf ids under `node`."""
        nodes: list[int] = []
        leaves: list[int] = []
        stack = [node]
        while stack:
            at = stack.pop()
            if at < 0:
                leaves.append(leaf_ids[~at])
                continue
            nodes.append(at)
            stack.extend((int(tree.right_child[at]), int(tree.left_child[at])))
        return nodes, leaves

    def _blocks(
        self,
        tree: _Tree,
        node: int,
        depth: list[int],
        prefix: list[list[int]],
        first_leaf: list[int],
        leaf_ids: dict[int, int],
    ) -> int:
        """Cover the subtree at `node` (>= 0) with blocks; returns how many were added."""
        ints = self.ints
        nodes, leaves = self._subtree(tree, node, leaf_ids)
        features = list(
            dict.fromkeys([*prefix[node], *(int(tree.split_feature[n]) for n in nodes)])
        )
        bits = len(prefix[node]) + len(nodes)
        if bits <= 30 and (len(features) << bits) <= self.block_entries:
            self._add_block(
                path_leaf=first_leaf[node],
                depth=depth[node],
                prefix_d=len(prefix[node]),
                nodes=nodes,
                leaves=leaves,
                features=features,
                tabulated=True,
            )
            return 1
        added = 0
        for child in (int(tree.left_child[node]), int(tree.right_child[node])):
            if child >= 0:
                added += self._blocks(tree, child, depth, prefix, first_leaf, leaf_ids)
                continue
            leaf = leaf_ids[~child]
            d = ints["leaf_d"][leaf]
            start = ints["leaf_slot_off"][leaf]
            self._add_block(
                path_leaf=leaf,
                depth=ints["leaf_path_len"][leaf],
                prefix_d=d,
                nodes=[],
                leaves=[leaf],
                features=ints["slot_feature"][start : start + d],
                tabulated=d <= self.table_max_d,
            )
            added += 1
        return added

    def _add_block(
        self,
        *,
        path_leaf: int,
        depth: int,
        prefix_d: int,
        nodes: list[int],
        leaves: list[int],
        features: list[int],
        tabulated: bool,
    ) -> None:
        ints = self.ints
        ints["block_path_off"].append(ints["leaf_path_off"][path_leaf])
        ints["block_depth"].append(depth)
        ints["block_prefix_d"].append(prefix_d)
        ints["block_node_off"].append(len(ints["block_nodes"]))
        ints["block_n_nodes"].append(len(nodes))
        ints["block_nodes"].extend(nodes)
        ints["block_u_off"].append(len(ints["u_feature"]))
        ints["block_u_len"].append(len(features))
        ints["u_feature"].extend(features)
        ints["block_leaf"].append(leaves[0])
        ints["block_leaf_off"].append(len(ints["block_leaves"]))
        ints["block_n_leaves"].append(len(leaves))
        ints["block_leaves"].extend(leaves)
        if not tabulated:
            ints["block_table_off"].append(-1)
            return
        ints["block_table_off"].append(self.n_table)
        self.n_table += len(features) << (prefix_d + len(nodes))
        for leaf in leaves:
            if ints["leaf_table_off"][leaf] < 0:
                d = ints["leaf_d"][leaf]
                ints["leaf_table_off"][leaf] = self.n_leaf_table
                self.n_leaf_table += d << d


class TreeExplainer:
    """Precomputed TreeSHAP tables for one booster; `contributions` is `pred_contrib`'s twin.

    Build with `from_booster`. `fallback_reason` is None on the fast path; otherwise the
    sentence logged when it was built, and `contributions` calls `pred_contrib`.
    """

    def __init__(self, booster: Any, n_features: int, fallback_reason: str | None) -> None:
        self.booster = booster
        self.n_features = n_features
        self.fallback_reason = fallback_reason
        self._arrays: tuple[np.ndarray, ...] = ()
        self._bias = 0.0
        self._max_nodes = 0
        self._max_d = 0
        self._untabulated = 0
        self._expected: float | None = None

    @classmethod
    def from_booster(
        cls,
        booster: Any,
        *,
        block_entries: int = BLOCK_ENTRIES,
        table_max_d: int = TABLE_MAX_D,
    ) -> TreeExplainer:
        """Read `booster`'s model once and tabulate; never raises for an unsupported model.

        `block_entries` and `table_max_d` trade table memory for speed (defaults measured on
        the champions); 0 and 0 give one untabulated block per leaf, the slowest exact path.
        """
        n_features = int(booster.num_feature())
        try:
            parsed_features, trees = _parse_model(booster.model_to_string())
            if parsed_features != n_features:
                raise UnsupportedModel("the text model's feature count differs from the booster's")
            explainer = cls(booster, n_features, None)
            explainer._tabulate(trees, block_entries, table_max_d)
            # Load (or compile) the row kernel now, not on the service's first request.
            explainer.contributions(np.zeros((1, n_features)))
        except Exception as exc:
            # The tables are an optimisation: a model must still load and explain (through
            # LightGBM) whatever stops them, and say why once.
            if isinstance(exc, UnsupportedModel):
                reason = str(exc)
            elif isinstance(exc, KeyError | ValueError):
                reason = f"unreadable model: {exc!r}"
            else:  # numba missing, no writable place for its cache, a compile error
                reason = f"the compiled kernels are unavailable: {exc!r}"
            log.warning(
                "fast TreeSHAP unavailable (%s): explanations use LightGBM's pred_contrib", reason
            )
            return cls(booster, n_features, reason)
        return explainer

    def _tabulate(self, trees: list[_Tree], block_entries: int, table_max_d: int) -> None:
        """Flatten every tree into arrays, tabulate each leaf, then sum leaves into blocks."""
        from models.treeshap_kernels import fill_blocks, fill_tables

        flat = _Flat(block_entries, table_max_d)
        for tree in trees:
            flat.add_tree(tree)
        leaf_tables = np.empty(flat.n_leaf_table, dtype=np.float64)
        ints = flat.int_arrays()
        leaf_value = np.asarray(flat.leaf_value, dtype=np.float64)
        slot_z = np.asarray(flat.slot_z, dtype=np.float64)
        fill_tables(
            ints["leaf_d"],
            ints["leaf_slot_off"],
            ints["leaf_table_off"],
            leaf_value,
            slot_z,
            leaf_tables,
            max(flat.max_d, 1),
        )
        tables = np.empty(flat.n_table, dtype=np.float64)
        fill_blocks(
            ints["block_leaf_off"],
            ints["block_n_leaves"],
            ints["block_depth"],
            ints["block_prefix_d"],
            ints["block_node_off"],
            ints["block_n_nodes"],
            ints["block_u_off"],
            ints["block_u_len"],
            ints["block_table_off"],
            ints["block_leaves"],
            ints["block_nodes"],
            ints["u_feature"],
            ints["leaf_path_off"],
            ints["leaf_path_len"],
            ints["leaf_d"],
            ints["leaf_slot_off"],
            ints["leaf_table_off"],
            ints["path_node"],
            flat.path_left_array(),
            ints["path_slot"],
            ints["slot_feature"],
            leaf_tables,
            tables,
        )
        self._bias = flat.bias
        self._untabulated = int((ints["block_table_off"] < 0).sum())
        self._max_nodes = flat.max_nodes
        self._max_d = max(flat.max_d, 1)
        self._arrays = (
            ints["tree_node_off"],
            ints["tree_n_nodes"],
            ints["tree_block_off"],
            ints["tree_n_blocks"],
            ints["node_feature"],
            np.asarray(flat.node_threshold, dtype=np.float64),
            ints["node_decision"],
            ints["node_cat_off"],
            ints["node_cat_words"],
            np.asarray(flat.cat_bits, dtype=np.uint32),
            ints["block_path_off"],
            ints["block_depth"],
            ints["block_prefix_d"],
            ints["block_node_off"],
            ints["block_n_nodes"],
            ints["block_u_off"],
            ints["block_u_len"],
            ints["block_table_off"],
            ints["block_leaf"],
            ints["block_nodes"],
            ints["u_feature"],
            ints["path_node"],
            flat.path_left_array(),
            ints["path_slot"],
            leaf_value,
            slot_z,
            ints["leaf_slot_off"],
            tables,
        )

    @property
    def expected_value(self) -> float:
        """The bias column: the model's expected margin over its training data, the same for
        every row (computed once; on the fallback path from a one-row `pred_contrib` call)."""
        if self._expected is None:
            empty = np.full((1, self.n_features), np.nan)
            self._expected = float(self.contributions(empty)[0, -1])
        return self._expected

    @property
    def untabulated_blocks(self) -> int:
        """Leaves explained per row instead of by table lookup (too deep to tabulate)."""
        return self._untabulated

    @property
    def table_bytes(self) -> int:
        """Memory held by the precomputed tables (the last array), for the bench and logs."""
        return int(self._arrays[-1].nbytes) if self._arrays else 0

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """`booster.predict(matrix, pred_contrib=True)`: (rows, features + 1), bias last."""
        from models.risk_model import PREDICT_THREADS

        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"expected a matrix of {self.n_features} feature columns, got shape {x.shape}"
            )
        if self.fallback_reason is not None:
            return np.asarray(
                self.booster.predict(x, pred_contrib=True, num_threads=PREDICT_THREADS),
                dtype=np.float64,
            )
        from models.treeshap_kernels import explain_rows

        kernel: Any = explain_rows  # a numba dispatcher: its call signature is the kernel's
        out = np.zeros((x.shape[0], self.n_features + 1), dtype=np.float64)
        out[:, -1] = self._bias
        kernel(x, out, *self._arrays, self._max_nodes, self._max_d)
        return out


def _self_check() -> int:
    """`python -m models.explainer` (run by `make install`): compile and cache the kernels, then
    check them against `pred_contrib` on a small model with categorical, NaN and zero values.

    Exits non-zero with one line on stderr if the fast path is unavailable or disagrees, so an
    install never silently leaves every explanation on the slow path.
    """
    import sys

    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    x[:, 3] = rng.integers(0, 40, 500)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.1] = 0.0
    label = (np.nan_to_num(x[:, 0]) + (x[:, 3] % 3 == 1) > 0.5).astype(float)
    dataset = lgb.Dataset(x, label, categorical_feature=[3], params={"verbose": -1})
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "max_cat_to_onehot": 1},
        dataset,
        num_boost_round=10,
    )
    explainer = TreeExplainer.from_booster(booster)
    if explainer.fallback_reason is not None:
        print(f"fast TreeSHAP unavailable: {explainer.fallback_reason}", file=sys.stderr)
        return 1
    expected = np.asarray(booster.predict(x, pred_contrib=True, num_threads=1))
    difference = float(np.abs(explainer.contributions(x) - expected).max())
    if not difference <= 1e-9:
        print(f"fast TreeSHAP differs from pred_contrib by {difference:g}", file=sys.stderr)
        return 1
    print(
        f"fast TreeSHAP kernels compiled and cached; max difference from pred_contrib {difference:.1e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(_self_check())
