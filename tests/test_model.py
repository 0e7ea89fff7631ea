"""The performance model: fixed inputs give a known number, real sm_89 and sm_90 compiles feed it
their SASS counts, and every prediction it shows says where it came from."""

from __future__ import annotations

import math

import pytest
from model_data import counts, helper, hgmma, report
from rich.console import Console

from workbench.analysis.advice import precision_advice
from workbench.analysis.model import (
    CONSTANTS,
    DEFAULT_CALIBRATION,
    DEFAULTS,
    MODEL_VERSION,
    UNCALIBRATED,
    Calibration,
    calibration_path,
    evaluate,
    features,
    load_calibration,
    predict,
    predict_trial,
    source_precision,
)
from workbench.analysis.report import inspect_config
from workbench.cli.bench import _prediction
from workbench.cli.inspection import render
from workbench.cli.render import prediction_text
from workbench.core.gpus import find_gpu
from workbench.core.paths import BUILTIN_KERNEL
from workbench.core.problem import parse_problem
from workbench.core.records import InspectReport, SharedAccess, Status, Timing, TrialResult
from workbench.kernel.kernelfile import KernelFile
from workbench.kernel.sass import InstructionMix

H100 = find_gpu("h100")
RTX4090 = find_gpu("4090")
L1_66 = parse_problem("L1/66")


# --- fixed inputs, a known number -----------------------------------------------------------------
def _fixed():
    """The built-in kernel's default tile on L1/66 for the H100, with a round instruction mix:
    1000 instructions per iteration, 12 wgmma (three TF32 products of 256x64x16), 20 async
    4-byte copies; 3000 instructions outside the loop."""
    loop = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20})
    return report(L1_66, H100, 256, 64, 16, 8, 3, 255, loop, rest=3000, precision="tf32x3")


def test_fixed_inputs_give_the_number_worked_out_by_hand():
    rep = _fixed()
    assert rep.occupancy.blocks_per_sm == 1 and rep.grid_blocks == 6619
    clock = 1980e6
    # By hand, at the defaults: the busiest SM runs ceil(6619 / 132) = 51 blocks, one at a time;
    # 20 iterations (K 315 padded to 320, BLOCK_K 16) of the tensor cores, the schedulers' issue
    # and one warp's path (its 1000 instructions and its block's MMAs; its loads were issued 2
    # iterations ahead, so no latency is left), overlapped with exponent 4. Of the path's 1000
    # instructions, the 20 async copies wait mio_cpi (16) each, the other 980 warp_cpi (8) (v5).
    tensor = 2 * 256 * 64 * 16 * 3 / (494.7e12 / (132 * clock)) / 0.8
    issue = 1000 * (8 / 4) / 0.8
    path = tensor + 980 * 8.0 + 20 * 16.0
    # The SM's MIO path takes the 8 warps' 20 copies at one warp instruction a clock (v7).
    mio = 8 * 20 / 1.0
    assert path > max(tensor, issue, mio)
    iteration = (tensor**4 + issue**4 + mio**4 + path**4) ** 0.25
    # Prologue/epilogue at the schedulers' rate, one load latency, and the block's 256x64 fp32
    # output tile drained at its SM's share of the achieved DRAM bandwidth (v4).
    store = 256 * 64 * 4 / (3350e9 * 0.85 / (132 * clock))
    rest = 3000 * 2 / 0.8 + 600 + store
    sm_ms = 51 * (20 * iteration + rest) / clock * 1e3
    dram_ms = L1_66.min_bytes / (3350e9 * 0.85) * 1e3
    l2_bytes = 20 * 4 * 32 * 8 * 20 * 6619  # 20 copies x 4 B x 256 threads x 20 iterations
    l2_ms = l2_bytes / (32 * 132 * clock) * 1e3
    kernel_ms = (sm_ms**4 + dram_ms**4 + l2_ms**4) ** 0.25 + 4e-3
    p = predict(rep, L1_66, H100, DEFAULT_CALIBRATION)
    assert p.ms == pytest.approx(kernel_ms + 30e-3, rel=1e-9)
    assert predict(rep, L1_66, H100, DEFAULT_CALIBRATION, protocol="kernel_only").ms == (
        pytest.approx(kernel_ms, rel=1e-9)
    )
    assert p.bound == "latency"
    assert p.terms["issue_latency"] == pytest.approx(51 * 20 * path / clock * 1e3, rel=1e-5)
    assert p.terms["compute"] == pytest.approx(51 * 20 * tensor / clock * 1e3, rel=1e-5)
    assert p.terms["dram"] == pytest.approx(dram_ms, rel=1e-5)
    assert p.terms["l2"] == pytest.approx(l2_ms, rel=1e-5)
    assert p.terms["local"] == 0.0  # no spills
    assert p.terms["mio"] == pytest.approx(51 * 20 * mio / clock * 1e3, rel=1e-4)
    assert (p.low_ms, p.high_ms) == (pytest.approx(p.ms / 2), pytest.approx(p.ms * 2))


def test_spills_cost_local_memory_traffic_worked_out_by_hand():
    """The same loop with 60 of its 1000 instructions local loads and stores (a spilling
    compile): 60 x 4 B x 256 threads per iteration over local_bytes_per_clk, a pipe of its own."""
    loop = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20},
                  local_loads=40, local_stores=20)  # fmt: skip
    rep = report(L1_66, H100, 256, 64, 16, 8, 3, 255, loop, rest=3000, precision="tf32x3")
    f = features(rep, L1_66, H100)
    assert f.loop_local == 60
    clock = 1980e6
    local = 60 * 4 * 256 / 32.0  # clocks per iteration at the default 32 B per clock per SM
    quiet = evaluate(f, {"local_bytes_per_clk": 1e9})
    slow = evaluate(f, {"local_bytes_per_clk": 1.0})  # 32x the default's clocks
    assert quiet.terms["local"] == pytest.approx(0.0, abs=1e-6)
    assert evaluate(f).terms["local"] == pytest.approx(51 * 20 * local / clock * 1e3, rel=1e-5)
    assert slow.terms["local"] == pytest.approx(32 * evaluate(f).terms["local"], rel=1e-6)
    assert slow.bound == "spills" and slow.dominant == "local"
    # Where the spills dominate, the SM time is theirs (the other terms hide behind them).
    spilled = slow.terms["local"] + slow.terms["prologue"] + 4e-3
    assert slow.terms["local"] < slow.kernel_ms < 1.01 * spilled
    assert slow.kernel_ms > 6 * quiet.kernel_ms
    no_spill = features(_fixed(), L1_66, H100)
    assert evaluate(no_spill).kernel_ms < evaluate(f).kernel_ms


def test_helper_launches_cost_their_bytes_at_the_dram_rate_and_a_launch_each():
    """The fixed config after two helper launches (an input split of L1/54's x: 12.6 M fp32
    elements read, as many int32 words written; a weight pack of 196 608 B): each one's tensor
    bytes at the achieved DRAM bandwidth plus helper_us (5 us at the default), added to the
    kernel, paid by both timings (v7)."""
    split, pack = helper(8 * 12582912), helper(196608, "_pack_w_kernel")
    base = predict(_fixed(), L1_66, H100, DEFAULT_CALIBRATION)
    rep = _fixed().replace(helpers=[split, pack])
    p = predict(rep, L1_66, H100, DEFAULT_CALIBRATION)
    by_hand = (100663296 + 196608) / (3350e9 * 0.85) * 1e3 + 2 * 5e-3  # 0.0354 + 0.010 ms
    assert p.terms["helpers"] == pytest.approx(by_hand, rel=1e-4)  # the record rounds to 1 ns
    assert p.ms - base.ms == pytest.approx(by_hand, rel=1e-9)
    assert base.terms["helpers"] == 0.0
    kernel_only = predict(rep, L1_66, H100, DEFAULT_CALIBRATION, protocol="kernel_only").ms
    assert kernel_only == pytest.approx(p.ms - 30e-3, rel=1e-9)
    assert "helper launches 0.0454 ms" in p.source and "_pack_w_kernel, _split_x_kernel" in p.source
    f = features(rep, L1_66, H100)
    assert (f.helper_launches, f.helper_bytes) == (2, 100663296 + 196608)
    assert evaluate(f).terms["helpers"] == pytest.approx(by_hand, rel=1e-12)
    slow = evaluate(f, {"helper_us": 50.0, "dram_fraction": 0.425})
    assert slow.terms["helpers"] == pytest.approx(2 * (by_hand - 10e-3) + 0.1, rel=1e-9)


def test_each_constant_moves_the_time_the_way_it_should():
    f = features(_fixed(), L1_66, H100)
    base = evaluate(f).kernel_ms
    # Latency-bound: twice the spacing, ~1.8x the time (the block's MMAs and its 20 async
    # copies, at mio_cpi, stay in its path); the copies' own spacing moves it less.
    assert evaluate(f, {"warp_cpi": 16.0}).kernel_ms > 1.75 * base
    assert base < evaluate(f, {"mio_cpi": 32.0}).kernel_ms < 1.1 * base
    # Not tensor-bound: a slower tensor rate only lengthens the block's MMAs in one warp's path.
    assert base < evaluate(f, {"tensor_fraction": 0.5}).kernel_ms < 1.1 * base
    slow_mem = evaluate(f, {"dram_fraction": 0.01})
    # A slow DRAM holds both the kernel's traffic and each block's epilogue (its output tile
    # drains at the SM's share of it, v4): memory- or epilogue-bound, much slower either way.
    assert slow_mem.bound in ("memory", "latency") and slow_mem.kernel_ms > 3 * base
    assert slow_mem.terms["dram"] > 0.5 * slow_mem.kernel_ms
    assert evaluate(f, {"host_us": 1000}).kernelbench_ms == pytest.approx(base + 1.0)


def test_more_warps_per_sm_hide_one_warps_latency():
    """The same loop with three blocks resident instead of one: the iteration's time is shared."""
    loop = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20})
    one = report(L1_66, H100, 256, 64, 16, 8, 3, 255, loop, precision="tf32x3")
    three = report(L1_66, H100, 256, 64, 16, 8, 3, 80, loop, precision="tf32x3")
    assert (one.occupancy.blocks_per_sm, three.occupancy.blocks_per_sm) == (1, 3)
    t1 = predict(one, L1_66, H100, DEFAULT_CALIBRATION, protocol="kernel_only").ms
    t3 = predict(three, L1_66, H100, DEFAULT_CALIBRATION, protocol="kernel_only").ms
    assert t3 < 0.45 * t1


def test_a_recorded_trial_is_predicted_with_the_config_it_ran_with():
    """A session keeps the config on the trial, not in its inspect record: predict_trial puts
    it back (the launch's constexprs: tile and precision), so the tile's work is known."""
    rep = _fixed()
    trial = TrialResult(status=Status.OK, mode="compile", config={"num_warps": 8},
                        inspect=rep.for_trial(),
                        launch={"constexprs": {"BLOCK_M": 256, "BLOCK_N": 64, "BLOCK_K": 16,
                                               "precision": "tf32x3", "HAS_BIAS": False},
                                "num_stages": 3})  # fmt: skip
    assert trial.inspect.config == {}
    full = predict(rep, L1_66, H100, DEFAULT_CALIBRATION)
    assert predict_trial(trial, L1_66, H100, DEFAULT_CALIBRATION).ms == pytest.approx(full.ms)
    bare = predict(trial.inspect, L1_66, H100, DEFAULT_CALIBRATION)
    assert "no BLOCK_M/N/K" in bare.source and bare.ms < 0.5 * full.ms  # 1 product assumed


def test_a_precision_written_into_the_kernel_counts_its_products():
    assert source_precision('acc += tl.dot(a, b, input_precision="tf32x3")') == "tf32x3"
    assert source_precision("tl.dot(a, b, allow_tf32=False)") == "ieee"
    assert source_precision("tl.dot(a, b, input_precision=precision)") == ""
    rep = _fixed()
    trial = TrialResult(status=Status.OK, mode="compile", inspect=rep.for_trial(),
                        launch={"constexprs": {"BLOCK_M": 256, "BLOCK_N": 64, "BLOCK_K": 16},
                                "num_warps": 8, "num_stages": 3})  # fmt: skip
    full = predict(rep, L1_66, H100, DEFAULT_CALIBRATION).ms
    hinted = predict_trial(trial, L1_66, H100, DEFAULT_CALIBRATION,
                           source='tl.dot(a, b, input_precision="tf32x3")')  # fmt: skip
    assert hinted.ms == pytest.approx(full)
    # Without the hint the tile still fixes the iterations (one per K step) and the SASS's MMAs
    # count as issued: the same time, and the source says the precision was not known.
    bare = predict_trial(trial, L1_66, H100, DEFAULT_CALIBRATION)
    assert bare.ms == pytest.approx(full) and "names no precision" in bare.source


def test_mmas_beyond_a_k_step_are_replicated_work_not_fewer_iterations():
    """A 64x64 tile of 8 warps whose loop issues 5/3 of a K step's MMAs (two warpgroups sharing
    a tile too small for them, as conv3d_igemm compiles on sm_90): the loop still runs once per
    K step (20), and the extra MMAs cost tensor time; the source says so."""
    step = hgmma(64, 64, 16, 8, 3)  # one K step's HGMMAs in tf32x3 (3 products)
    opcode, n = next(iter(step.items()))
    one = counts(600, mma_shapes=step, async_copy_widths={4: 8})
    extra = counts(600, mma_shapes={opcode: n * 5 // 3}, async_copy_widths={4: 8})
    f_one = features(report(L1_66, H100, 64, 64, 16, 8, 3, 96, one, precision="tf32x3"),
                     L1_66, H100)  # fmt: skip
    rep = report(L1_66, H100, 64, 64, 16, 8, 3, 96, extra, precision="tf32x3")
    f = features(rep, L1_66, H100)
    assert f_one.iterations == f.iterations == pytest.approx(20.0)
    assert f.tensor_clocks == pytest.approx(f_one.tensor_clocks * (n * 5 // 3) / n)
    assert any("warps replicate a tile" in note for note in f.notes)
    assert "warps replicate a tile" in predict(rep, L1_66, H100, DEFAULT_CALIBRATION).source


def test_a_kernel_without_a_loop_is_straight_line_code():
    """K fits one step (L1/59: K = 27, BLOCK_K = 32): the SASS has no loop. A round of b blocks
    is the schedulers' issue of all their instructions overlapped with one block's chain (its
    instructions one after the other, its MMAs, one load latency, its output tile drained at
    its SM's DRAM share), worked out by hand at the defaults (v4)."""
    l1_59 = parse_problem("L1/59")
    kernel = counts(1200, mma_shapes=hgmma(128, 64, 32, 4, 3), async_copy_widths={4: 24})
    mix = InstructionMix("k", "sm_90", (), None, None, kernel).to_json()
    base = report(l1_59, H100, 128, 64, 32, 4, 2, 168, counts(10), precision="bf16x3")
    rep = base.replace(resources=base.resources.replace(instruction_mix=mix))
    f = features(rep, l1_59, H100)
    assert f.straight_line and f.iterations == 1.0
    assert f.loop_instructions == 0.0 and f.rest_instructions == 1200
    assert f.tensor_clocks > 0 and not f.loads_ahead and f.store_bytes == 128 * 64 * 4
    out = evaluate(f)
    b = rep.occupancy.blocks_per_sm
    clock = 1980e6
    tensor = f.tensor_clocks / 0.8
    store = 128 * 64 * 4 / (3350e9 * 0.85 / (132 * clock))
    chain = 1176 * 8.0 + 24 * 16.0 + tensor + 600 + store  # 24 async copies at mio_cpi (v5)

    def issue(blocks: int) -> float:
        return 1200 * (blocks * 4 / 4) / 0.8

    def mio(blocks: int) -> float:  # the SM's MIO path: 4 warps' 24 copies a block (v7)
        return blocks * 4 * 24 / 1.0

    def round_clocks(blocks: int) -> float:
        return ((blocks * tensor) ** 4 + issue(blocks) ** 4 + mio(blocks) ** 4 + chain**4) ** 0.25

    full, left = divmod(math.ceil(rep.grid_blocks / 132), b)  # rounds of b, then the tail's
    sm_ms = (full * round_clocks(b) + (round_clocks(left) if left else 0.0)) / clock * 1e3
    dram_ms = l1_59.min_bytes / (3350e9 * 0.85) * 1e3
    l2_ms = f.l2_bytes / (32 * 132 * clock) * 1e3
    kernel_ms = (sm_ms**4 + dram_ms**4 + l2_ms**4) ** 0.25 + 4e-3
    assert out.kernel_ms == pytest.approx(kernel_ms, rel=1e-9)
    rounds = full + (1 if left else 0)
    assert out.terms["issue_latency"] == pytest.approx(rounds * chain / clock * 1e3, rel=1e-6)
    assert out.terms["issue"] == pytest.approx(
        (full * issue(b) + (issue(left) if left else 0.0)) / clock * 1e3, rel=1e-6
    )
    assert out.terms["prologue"] == 0.0
    assert "straight-line" in predict(rep, l1_59, H100, DEFAULT_CALIBRATION).source


def test_a_warps_mio_instructions_wait_their_own_spacing_worked_out_by_hand():
    """Two loops of 1000 instructions on one block of 8 warps (2 warps per scheduler: one warp's
    path sets the time), one with 20 async copies, the other with 20 async copies, 60 shared
    loads and 20 shared stores: the MIO-class instructions (shared loads and stores, async
    copies, global loads) wait `mio_cpi` each in the warp's path, the rest `warp_cpi` (v5; ncu
    on conv3d_fast3's issue-bound loops: ~5 clocks of a warp's own stall per instruction, most
    of it on the MIO queue, the scoreboards and barriers). Same count, more MIO: slower; with
    mio_cpi equal to warp_cpi, alike."""
    few = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20})
    many = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20},
                  shared_loads=60, shared_stores=20)  # fmt: skip
    f_few, f_many = (
        features(report(L1_66, H100, 256, 64, 16, 8, 3, 255, c, precision="tf32x3"), L1_66, H100)
        for c in (few, many)
    )
    assert (f_few.loop_mio, f_many.loop_mio) == (20, 100)
    clock = 1980e6
    tensor = f_few.tensor_clocks / 0.8
    for f, mio in ((f_few, 20), (f_many, 100)):
        path = tensor + (1000 - mio) * 8.0 + mio * 16.0
        assert evaluate(f).terms["issue_latency"] == pytest.approx(51 * 20 * path / clock * 1e3)
    assert evaluate(f_many).kernel_ms > 1.04 * evaluate(f_few).kernel_ms
    # The SM's MIO path (v7): the 8 warps' MIO instructions at one a clock, apart from the path.
    for f, mio in ((f_few, 20), (f_many, 100)):
        assert evaluate(f).terms["mio"] == pytest.approx(51 * 20 * 8 * mio / clock * 1e3)
    alike = {"mio_cpi": 8.0, "mio_per_clk": 1e9}
    assert evaluate(f_many, alike).kernel_ms == pytest.approx(evaluate(f_few, alike).kernel_ms)


def test_bigger_blocks_on_as_many_warps_pay_their_chain_with_fewer_blocks_to_hide_it():
    """The same instructions per warp and warps per SM, one block of 8 warps and a 256-point
    tile against two of 4 warps and 128 points (L1/59's straight-line code): the schedulers
    issue as much, but each block's chain (MMAs, output tile) is twice as long and only one
    block is there to hide it, so the bigger tile is slower per point (as measured on the
    H200: 1.14 against 0.99 ms)."""
    l1_59 = parse_problem("L1/59")

    def straight(bm: int, warps: int, blocks: int) -> float:
        kernel = counts(750, mma_shapes=hgmma(bm, 64, 32, warps, 3), async_copy_widths={4: 24})
        mix = InstructionMix("k", "sm_90", (), None, None, kernel).to_json()
        base = report(l1_59, H100, bm, 64, 32, warps, 2, 64, counts(10), precision="bf16x3")
        res = base.resources.replace(instruction_mix=mix)
        occ = base.occupancy.replace(blocks_per_sm=blocks)
        return evaluate(features(base.replace(resources=res, occupancy=occ), l1_59, H100),
                        {"dram_fraction": 1.0}).kernel_ms  # fmt: skip

    small, big = straight(128, 4, 2), straight(256, 8, 1)
    assert big > 1.05 * small


def test_no_prediction_for_a_config_that_cannot_launch():
    rep = _fixed()
    rep.occupancy.blocks_per_sm = 0
    with pytest.raises(ValueError, match="does not fit"):
        predict(rep, L1_66, H100)


# --- real compiles feed it --------------------------------------------------------------------------
CONFIG = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 16, "num_warps": 4, "num_stages": 2}


@pytest.mark.parametrize(
    ("gpu", "precision", "mma"),
    [(RTX4090, "tf32x3", "HMMA"), (H100, "tf32x3", "HGMMA"), (RTX4090, "ieee", None)],
)
def test_real_compile_sass_counts_feed_the_model(bench_cache, gpu, precision, mma):
    kf = KernelFile.load(BUILTIN_KERNEL)
    rep = inspect_config(kf, L1_66, {**CONFIG, "precision": precision}, gpu)
    mix = InstructionMix.from_json(rep.resources.instruction_mix)
    assert (mix.arch or "").startswith(gpu.sm) and mix.per_iteration is not None  # sm_90a
    f = features(rep, L1_66, gpu)
    # The main loop's MMAs (or FFMAs) cover one K step of the tile in this precision: the model
    # counts 20 iterations for K = 315 padded to 320 in steps of 16.
    assert f.iterations == pytest.approx(20.0, rel=1e-6)
    assert f.loop_instructions == mix.per_iteration.total
    if mma:
        assert {op.split(".")[0] for op in mix.per_iteration.mma_shapes} == {mma}
        assert f.tensor_clocks > 0 and f.loop_ffma == 0
    else:
        assert mix.per_iteration.mma == 0 and f.loop_ffma == mix.per_iteration.ffma > 0
    p = rep.prediction
    assert p is not None and math.isfinite(p.ms) and p.ms > 0
    assert f"{gpu.sm} compile's SASS" in p.source and p.source.startswith("predicted")
    assert any(line.startswith("prediction: ") for line in rep.provenance)
    assert rep.advice, "inspect gives precision advice with the prediction"


# --- which calibration, said where it is shown -------------------------------------------------------
def test_shipped_h100_calibration_is_used_and_named():
    cal = load_calibration(calibration_path("h100"))
    assert cal is not None and cal.calibrated and cal.gpu_key == "h100"
    assert cal.model_version == MODEL_VERSION and cal.typical_error_pct is not None
    for c in CONSTANTS:
        assert c.low <= cal.value(c.name) <= c.high
    compiled = " ".join(cal.extra["compiled"])
    assert "Triton 3.6.0" in compiled or "recorded" in compiled
    p = predict(_fixed(), L1_66, H100)
    assert p.calibration == cal.label and "H100" in p.calibration
    assert p.typical_error_pct == cal.typical_error_pct


def test_a_target_without_a_calibration_says_uncalibrated_and_a_carried_one_says_so():
    loop = counts(500, mma_shapes={"HMMA.1688.F32.TF32": 96}, async_copy_widths={4: 8})
    rep = report(L1_66, RTX4090, 64, 64, 16, 4, 2, 128, loop, precision="tf32x3", shared=16384)
    p = predict(rep, L1_66, RTX4090)
    assert p.calibration == UNCALIBRATED and p.typical_error_pct is None
    other = Calibration(device="NVIDIA H200", gpu_key="h200", constants=dict(DEFAULTS), trials=60,
                        typical_error_pct=12.0)  # fmt: skip
    carried = predict(rep, L1_66, RTX4090, other)
    assert "calibrated on NVIDIA H200" in carried.calibration
    assert "carried over to NVIDIA GeForce RTX 4090" in carried.calibration
    assert carried.typical_error_pct is None  # its error was measured elsewhere


def test_every_displayed_prediction_carries_its_source():
    rep = _fixed()
    p = predict(rep, L1_66, H100)
    text = prediction_text(p, H100.name)
    assert text.startswith(f"predicted on {H100.name}: ") and p.calibration in text
    assert f"typical error {p.typical_error_pct:.0f}%" in text
    rep.prediction = p
    rep.target = None
    console = Console(record=True, width=200)
    console.print(render_report(rep))
    assert "predicted on" in console.export_text()
    # bench: beside a measurement on the same GPU, with the error; never as one.
    for device, target, compared in (("NVIDIA H100 80GB HBM3", "h100", True),
                                     ("NVIDIA H200", "h100", False)):  # fmt: skip
        trial = TrialResult(status=Status.OK, mode="gpu", device=device, target=target,
                            inspect=rep, kernelbench_timing=Timing(mean_ms=p.ms * 1.1))  # fmt: skip
        console = Console(record=True, width=200)
        _prediction(trial, console)
        out = console.export_text()
        assert "(not a measurement)" in out and p.calibration in out
        assert ("vs measured (KernelBench's protocol" in out) == compared
        if compared:
            assert "prediction -9%" in out


def render_report(rep):
    """inspect's rendering, with the context fields a report from a compile has."""
    from workbench.core.records import KernelRef, ProblemRef, TargetRef

    rep = rep.replace(
        target=TargetRef(key="h100", name=H100.name, cc="9.0", sm="sm_90", sms=132),
        problem=ProblemRef(spec=L1_66.spec(), label=L1_66.label()),
        kernel=KernelRef(path="k.py", sha256="0" * 64, name="k"),
    )
    return render(rep)


# --- precision advice ----------------------------------------------------------------------------
def test_advice_on_the_4090_says_tf32x3_costs_three_fp32_products():
    lines = precision_advice(L1_66, RTX4090, "tf32x3")
    text = " ".join(lines)
    assert "equals the FP32 rate" in text and "three times a plain FP32 product" in text
    assert "expect ieee to win" in text


def test_advice_on_hopper_prefers_three_cheap_products_and_knows_tf32_fails():
    text = " ".join(
        precision_advice(L1_66, H100, "tf32", modes=("ieee", "tf32", "tf32x3", "bf16x3"))
    )
    assert "bf16x3 is the cheapest fp32-accurate product" in text
    assert "fails KernelBench's 1e-4 check" in text
    only = " ".join(precision_advice(L1_66, H100, "tf32x3", modes=("ieee", "tf32", "tf32x3")))
    assert "tf32x3 is the cheapest" in only and "bf16x3" not in only


def test_advice_for_memory_bound_work_and_latency_bound_configs():
    thin = parse_problem("N=8,Ci=1,Co=1,D=64,H=64,W=64,k=1")
    assert "a cheaper product gains nothing" in " ".join(precision_advice(thin, H100))
    p = predict(_fixed(), L1_66, H100, DEFAULT_CALIBRATION)
    text = " ".join(precision_advice(L1_66, H100, "tf32x3", prediction=p))
    assert "predicted latency-bound (one warp's dependent issue" in text
    assert "not what limits it" in text


def test_bank_conflicts_cost_shared_memory_wavefronts_worked_out_by_hand():
    """The fixed loop with one 32-way conflicted access of 1024 wavefronts per block and
    iteration (from the compile's TTGIR): 1024 clocks per iteration at the spec-sheet one
    wavefront per clock per SM, a pipe of its own; unknown (older sessions) or conflict-free
    accesses cost nothing."""
    base = _fixed()
    conflicted = SharedAccess(op="local_load", kind="read", shape=[32, 32], element="f32",
                              shared_layout="swizzled_shared<vec=1, perPhase=1, maxPhase=1>",
                              register_layout="blocked", in_loop=True, degree=32.0,
                              wavefronts=1024, ideal_wavefronts=32, bytes=4096)  # fmt: skip
    clean = conflicted.replace(degree=1.0, wavefronts=32)
    outside = conflicted.replace(in_loop=False)
    rep = base.replace(
        resources=base.resources.replace(shared_accesses=[conflicted, clean, outside])
    )
    f = features(rep, L1_66, H100)
    assert f.conflict_wavefronts == 1024 and f.worst_conflict == 32
    assert any("32-way" in n for n in f.notes)
    clock = 1980e6
    out = evaluate(f)
    assert out.terms["banks"] == pytest.approx(51 * 20 * 1024 / clock * 1e3, rel=1e-5)
    assert evaluate(f, {"shared_passes_per_clk": 0.25}).terms["banks"] == pytest.approx(
        4 * out.terms["banks"], rel=1e-6
    )
    slow = evaluate(f, {"shared_passes_per_clk": 0.05})
    assert slow.bound == "bank-conflict" and slow.dominant == "banks"
    unknown = features(base, L1_66, H100)
    assert unknown.conflict_wavefronts is None and evaluate(unknown).terms["banks"] == 0.0
    assert evaluate(unknown).kernel_ms < out.kernel_ms
    none = base.replace(resources=base.resources.replace(shared_accesses=[clean]))
    assert evaluate(features(none, L1_66, H100)).kernel_ms == pytest.approx(
        evaluate(unknown).kernel_ms
    )


def test_barriers_cost_the_schedulers_issue_worked_out_by_hand():
    """The fixed loop with 10 of its 1000 instructions barrier-class (bar.sync, the wgmma arrive
    and wait): each costs its warp's scheduler `barrier_cycles` (default 8) on top of its issue
    slot (v6), so the schedulers' issue of the 2 warps each holds is 2 x (1000 / 0.8 + 10 x 8)
    clocks an iteration. With the barriers free it is the loop without them; where the issue
    sets the time (three blocks resident), they make it slower."""
    loop = counts(1000, mma_shapes=hgmma(256, 64, 16, 8, 3), async_copy_widths={4: 20},
                  barriers=10)  # fmt: skip
    rep = report(L1_66, H100, 256, 64, 16, 8, 3, 255, loop, rest=3000, precision="tf32x3")
    f = features(rep, L1_66, H100)
    assert (f.loop_barriers, f.rest_barriers) == (10, 0)
    clock = 1980e6
    issue = 2 * (1000 / 0.8 + 10 * 8.0)
    assert evaluate(f).terms["issue"] == pytest.approx(51 * 20 * issue / clock * 1e3, rel=1e-6)
    plain = features(_fixed(), L1_66, H100)
    free = {"barrier_cycles": 0.0}
    assert evaluate(f, free).kernel_ms == pytest.approx(evaluate(plain).kernel_ms, rel=1e-9)
    busy = report(L1_66, H100, 256, 64, 16, 8, 3, 80, loop, rest=3000, precision="tf32x3")
    fb = features(busy, L1_66, H100)
    assert busy.occupancy.blocks_per_sm == 3
    slow, fast = evaluate(fb, {"barrier_cycles": 40.0}), evaluate(fb, free)
    assert slow.bound == "issue" and slow.kernel_ms > 1.08 * fast.kernel_ms


def test_a_tile_the_config_does_not_name_is_read_from_the_operand_tiles():
    """A user-style kernel (TILE_P / TILE_CO / TILE_R, not BLOCK_M/N/K) with a 32x32x16 tf32x3
    tile on 4 warps, whose warps replicate the tile's MMAs (24 HMMAs a warp, twice one K
    step's 12): without the tile its loop reads as unrolled twice (9.8 iterations for K = 315);
    with the [32, 16] and [16, 32] tiles its TTGIR stages in shared memory, one block's share
    of the output (32 x 32), it runs once per K step (20, K padded to 320) and the extra MMAs
    cost tensor time. A pair of tiles that is not a block's share (48 x 48 against 32 x 32)
    is not taken for the tile."""
    loop = counts(500, mma_shapes={"HMMA.1688.F32.TF32": 24}, async_copy_widths={4: 8})
    base = report(L1_66, H100, 32, 32, 16, 4, 2, 96, loop, precision="tf32x3")
    user = {"TILE_P": 32, "TILE_CO": 32, "TILE_R": 16, "num_warps": 4, "num_stages": 2,
            "precision": "tf32x3"}  # fmt: skip

    def staged(*shapes: list[int]) -> list[SharedAccess]:
        return [SharedAccess(op="async_copy_global_to_local", kind="write", shape=s,
                             element="f32", shared_layout="swizzled_shared<vec=4>",
                             register_layout="blocked", in_loop=True, degree=1.0,
                             wavefronts=4, ideal_wavefronts=4, bytes=2048)
                for s in shapes]  # fmt: skip

    def with_accesses(accesses: list[SharedAccess]) -> InspectReport:
        return base.replace(config=user, resources=base.resources.replace(shared_accesses=accesses))

    unknown = features(base.replace(config=user), L1_66, H100)
    assert unknown.iterations == pytest.approx(2 * 315 * 3 * 32 * 32 / (24 * 2048 * 4), rel=1e-3)
    f = features(with_accesses(staged([32, 16], [16, 32])), L1_66, H100)
    assert f.iterations == pytest.approx(20.0)
    assert any("the tile 32x32x16 read from the compile" in n for n in f.notes)
    assert any("warps replicate a tile" in n for n in f.notes)
    named = features(base, L1_66, H100)  # the same compile, its tile named BLOCK_M/N/K
    assert (f.iterations, f.tensor_clocks) == (named.iterations, named.tensor_clocks)
    wrong = features(with_accesses(staged([48, 16], [16, 48])), L1_66, H100)
    assert wrong.iterations == pytest.approx(unknown.iterations)
