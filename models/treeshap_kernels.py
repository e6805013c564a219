"""Compiled kernels of the fast exact TreeSHAP explainer (`models.explainer`).

The maths, for one leaf of value `v` whose root path splits on the distinct features `P`
(`d = |P|`): feature `j` has a cover fraction `z_j` (the product, over the path's splits on `j`,
of child count / parent count, LightGBM's "zero fraction") and, for a given row, `o_j = 1` when
the row meets every one of the path's conditions on `j`, else 0. The leaf's term of the tree's
path-dependent value function is `v * prod_j (o_j if j in T else z_j)`, a product, so its
Shapley value for `i` in `P` is

    phi_i = v * (o_i - z_i) * sum_{T subset of P minus i} w(|T|, d)
                * prod_{j in T} o_j * prod_{j in P minus i minus T} z_j,
    w(k, d) = k! (d - k - 1)! / d!.

It depends on the row only through the set `S` of satisfied features, so `phi` is tabulated once
per model for every leaf and every `S` (2^d rows of d values: Fast TreeSHAP v2, Yang 2021).
Summed over leaves and trees this is exactly what LightGBM's `pred_contrib` (the recursive
TreeSHAP of Lundberg et al.) computes; only the floating-point order differs.

One step further (`fill_blocks`): the leaves under a node r share r's path, so their summed
contributions depend only on which of r's path features the row satisfied and on the row's
decision at each internal node below r. A subtree small enough is tabulated as one block over
that index, and explaining a row is, per tree, one decision per internal node, then per block
one index and one add per feature. On the default city's champions (depth 5, ~15 leaves) this
ran 2.6-3.4 times faster in batches than one block per leaf (`block_entries=0`).

Leaves deeper than `models.explainer.TABLE_MAX_D` distinct features are not tabulated (2^d grows
too fast); they are evaluated per row with the same `_leaf_phi`, O(d^3), still exact.

Compiled with numba, `cache=True`: the machine code is kept in `__pycache__` (`make install`
compiles it), so a process loads it in about a second instead of compiling for 3-6 s.
Single-threaded and `nogil`, so the service's worker threads can explain in parallel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# LightGBM's kZeroThreshold (1e-35f): its predictor drops |x| <= this from a dense row, so such
# values reach the trees as 0.0; `missing_type=Zero` treats the same band as missing.
ZERO_THRESHOLD = float(np.float32(1e-35))
_INT_LIMIT = 2147483648.0


@njit(cache=True, nogil=True, inline="always")
def _goes_left(
    fval: float,
    threshold: float,
    decision_type: int,
    cat_offset: int,
    cat_words: int,
    cat_bits: np.ndarray,
) -> bool:
    """LightGBM's `Tree::Decision` on a raw feature value (as `tree.h` of LightGBM 4 has it)."""
    if fval >= -ZERO_THRESHOLD and fval <= ZERO_THRESHOLD:
        fval = 0.0
    if decision_type & 1:
        # Categorical: LightGBM casts to int; NaN, negatives and values past int32 (cast to
        # INT_MIN on x86) all go right, as does any category outside the bitset.
        if np.isnan(fval) or fval <= -1.0 or fval >= _INT_LIMIT:
            return False
        code = int(fval)
        word = code >> 5
        if word >= cat_words:
            return False
        return ((cat_bits[cat_offset + word] >> (code & 31)) & 1) == 1
    missing_type = (decision_type >> 2) & 3
    if np.isnan(fval) and missing_type != 2:
        fval = 0.0
    if (missing_type == 1 and fval >= -ZERO_THRESHOLD and fval <= ZERO_THRESHOLD) or (
        missing_type == 2 and np.isnan(fval)
    ):
        return (decision_type & 2) != 0
    return fval <= threshold


@njit(cache=True, nogil=True)
def _leaf_phi(
    z: np.ndarray,
    satisfied: int,
    d: int,
    value: float,
    out: np.ndarray,
    coef: np.ndarray,
    weight: np.ndarray,
) -> None:
    """`out[:d]` = the leaf's Shapley values for a row meeting the conditions in `satisfied`.

    `coef` and `weight` are scratch arrays of at least d + 1 floats. Every term is a sum of
    non-negative products, so the result carries no cancellation error.
    """
    weight[0] = 1.0 / d
    for k in range(d - 1):
        weight[k + 1] = weight[k] * (k + 1) / (d - 1 - k)
    for i in range(d):
        outside = 1.0
        for j in range(d):
            if j != i and not (satisfied >> j) & 1:
                outside *= z[j]
        # coef[k]: sum over the k-subsets T of Q = S minus i of prod_{Q minus T} z_j, i.e. the
        # coefficients of prod_{j in Q} (z_j + t).
        coef[0] = 1.0
        size = 0
        for j in range(d):
            if j != i and (satisfied >> j) & 1:
                zj = z[j]
                coef[size + 1] = coef[size]
                for k in range(size, 0, -1):
                    coef[k] = coef[k] * zj + coef[k - 1]
                coef[0] *= zj
                size += 1
        total = 0.0
        for k in range(size + 1):
            total += weight[k] * coef[k]
        one = 1.0 if (satisfied >> i) & 1 else 0.0
        out[i] = value * (one - z[i]) * outside * total


@njit(cache=True, nogil=True)
def fill_tables(
    leaf_d: np.ndarray,
    leaf_slot_off: np.ndarray,
    leaf_table_off: np.ndarray,
    leaf_value: np.ndarray,
    slot_z: np.ndarray,
    tables: np.ndarray,
    max_d: int,
) -> None:
    """Tabulate `_leaf_phi` for every tabulated leaf (`leaf_table_off >= 0`) and every mask."""
    out = np.empty(max_d + 1)
    coef = np.empty(max_d + 2)
    weight = np.empty(max_d + 2)
    for leaf in range(leaf_d.shape[0]):
        start = leaf_table_off[leaf]
        d = leaf_d[leaf]
        if start < 0 or d == 0:
            continue
        z = slot_z[leaf_slot_off[leaf] : leaf_slot_off[leaf] + d]
        for mask in range(1 << d):
            _leaf_phi(z, mask, d, leaf_value[leaf], out, coef, weight)
            base = start + mask * d
            for s in range(d):
                tables[base + s] = out[s]


@njit(cache=True, nogil=True)
def fill_blocks(
    block_leaf_off: np.ndarray,
    block_n_leaves: np.ndarray,
    block_depth: np.ndarray,
    block_prefix_d: np.ndarray,
    block_node_off: np.ndarray,
    block_n_nodes: np.ndarray,
    block_u_off: np.ndarray,
    block_u_len: np.ndarray,
    block_table_off: np.ndarray,
    block_leaves: np.ndarray,
    block_nodes: np.ndarray,
    u_feature: np.ndarray,
    leaf_path_off: np.ndarray,
    leaf_path_len: np.ndarray,
    leaf_d: np.ndarray,
    leaf_slot_off: np.ndarray,
    leaf_table_off: np.ndarray,
    path_node: np.ndarray,
    path_left: np.ndarray,
    path_slot: np.ndarray,
    slot_feature: np.ndarray,
    leaf_tables: np.ndarray,
    tables: np.ndarray,
) -> None:
    """Sum the leaf tables of each tabulated block over every (prefix mask, decisions) index.

    A block is a subtree rooted at some node r: its index holds, in the low `prefix_d` bits,
    which of the features split on above r the row satisfied (in the path's slot order, which
    every leaf below r shares), and above them one bit per internal node of the subtree (1 =
    the row goes left). Its row holds the summed contributions over the features `u_feature`.
    """
    for block in range(block_leaf_off.shape[0]):
        start = block_table_off[block]
        if start < 0:
            continue
        prefix_d = block_prefix_d[block]
        n_nodes = block_n_nodes[block]
        width = block_u_len[block]
        nodes = block_nodes[block_node_off[block] : block_node_off[block] + n_nodes]
        features = u_feature[block_u_off[block] : block_u_off[block] + width]
        for index in range(1 << (prefix_d + n_nodes)):
            row = tables[start + index * width : start + (index + 1) * width]
            row[:] = 0.0
            prefix = index & ((1 << prefix_d) - 1)
            for k in range(block_n_leaves[block]):
                leaf = block_leaves[block_leaf_off[block] + k]
                d = leaf_d[leaf]
                fail = 0
                first = leaf_path_off[leaf]
                for p in range(first + block_depth[block], first + leaf_path_len[leaf]):
                    bit = 0
                    for j in range(n_nodes):
                        if nodes[j] == path_node[p]:
                            bit = j
                            break
                    goes_left = (index >> (prefix_d + bit)) & 1 == 1
                    if goes_left != path_left[p]:
                        fail |= 1 << path_slot[p]
                satisfied = ((1 << d) - 1) & ~fail & (prefix | ~((1 << prefix_d) - 1))
                base = leaf_table_off[leaf] + satisfied * d
                slots = leaf_slot_off[leaf]
                for s in range(d):
                    feature = slot_feature[slots + s]
                    for u in range(width):
                        if features[u] == feature:
                            row[u] += leaf_tables[base + s]
                            break


@njit(cache=True, nogil=True)
def explain_rows(
    x: np.ndarray,
    out: np.ndarray,
    tree_node_off: np.ndarray,
    tree_n_nodes: np.ndarray,
    tree_block_off: np.ndarray,
    tree_n_blocks: np.ndarray,
    node_feature: np.ndarray,
    node_threshold: np.ndarray,
    node_decision: np.ndarray,
    node_cat_off: np.ndarray,
    node_cat_words: np.ndarray,
    cat_bits: np.ndarray,
    block_path_off: np.ndarray,
    block_depth: np.ndarray,
    block_prefix_d: np.ndarray,
    block_node_off: np.ndarray,
    block_n_nodes: np.ndarray,
    block_u_off: np.ndarray,
    block_u_len: np.ndarray,
    block_table_off: np.ndarray,
    block_leaf: np.ndarray,
    block_nodes: np.ndarray,
    u_feature: np.ndarray,
    path_node: np.ndarray,
    path_left: np.ndarray,
    path_slot: np.ndarray,
    leaf_value: np.ndarray,
    slot_z: np.ndarray,
    leaf_slot_off: np.ndarray,
    tables: np.ndarray,
    max_nodes: int,
    max_d: int,
) -> None:
    """Add every tree's contributions for each row of `x` into `out[:, :n_features]`.

    Tree by tree, then row by row: one tree's tables stay in cache across a batch.
    """
    n_rows = x.shape[0]
    n_trees = tree_node_off.shape[0]
    left = np.empty(max(max_nodes, 1), dtype=np.bool_)
    phi = np.empty(max_d + 1)
    coef = np.empty(max_d + 2)
    weight = np.empty(max_d + 2)
    for tree in range(n_trees):
        first = tree_node_off[tree]
        n_nodes = tree_n_nodes[tree]
        first_block = tree_block_off[tree]
        last_block = first_block + tree_n_blocks[tree]
        for row in range(n_rows):
            values = x[row]
            result = out[row]
            for k in range(n_nodes):
                node = first + k
                left[k] = _goes_left(
                    values[node_feature[node]],
                    node_threshold[node],
                    node_decision[node],
                    node_cat_off[node],
                    node_cat_words[node],
                    cat_bits,
                )
            for block in range(first_block, last_block):
                prefix_d = block_prefix_d[block]
                fail = 0
                start = block_path_off[block]
                for p in range(start, start + block_depth[block]):
                    if left[path_node[p]] != path_left[p]:
                        fail |= 1 << path_slot[p]
                index = ((1 << prefix_d) - 1) & ~fail
                node_start = block_node_off[block]
                for j in range(block_n_nodes[block]):
                    if left[block_nodes[node_start + j]]:
                        index |= 1 << (prefix_d + j)
                width = block_u_len[block]
                features = block_u_off[block]
                table = block_table_off[block]
                if table >= 0:
                    base = table + index * width
                    for u in range(width):
                        result[u_feature[features + u]] += tables[base + u]
                else:
                    leaf = block_leaf[block]
                    slots = leaf_slot_off[leaf]
                    _leaf_phi(
                        slot_z[slots : slots + prefix_d],
                        index,
                        prefix_d,
                        leaf_value[leaf],
                        phi,
                        coef,
                        weight,
                    )
                    for u in range(width):
                        result[u_feature[features + u]] += phi[u]
