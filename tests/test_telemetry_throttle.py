"""The throttle flag counts thermal and hardware slowdowns only; the software power cap, which
a big GPU holds through any large GEMM, is reported apart (`power_capped`): in the snapshot
(NVML's reason bits or nvidia-smi's text), in the record, in the report and in compare."""
import sys
import types

import pytest
from synthetic import case

from bench.core import ops
from bench.results import compare, report
from bench.run import runner, telemetry

# NVML's nvmlClocksEventReason* bits (nvml.h), written out so that a wrong table fails.
GPU_IDLE, APP_CLOCKS, SW_POWER_CAP, HW_SLOWDOWN = 0x1, 0x2, 0x4, 0x8
SYNC_BOOST, SW_THERMAL, HW_THERMAL, HW_POWER_BRAKE = 0x10, 0x20, 0x40, 0x80


def nvml_snapshot(monkeypatch, reasons):
    """telemetry.snapshot() from a stand-in NVML that reports `reasons`."""
    nvml = types.SimpleNamespace(
        NVML_CLOCK_SM=1, NVML_TEMPERATURE_GPU=0, nvmlDeviceGetCurrentClocksThrottleReasons=lambda h: reasons,
        nvmlDeviceGetClockInfo=lambda h, c: 1755, nvmlDeviceGetMaxClockInfo=lambda h, c: 1980,
        nvmlDeviceGetTemperature=lambda h, t: 61, nvmlDeviceGetPowerUsage=lambda h: 699_000)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monkeypatch.setattr(telemetry, "handle", lambda: "h")
    return telemetry.snapshot()


@pytest.mark.parametrize("reasons, throttled, capped", [
    (SW_POWER_CAP, False, True),  # an H200 through a large GEMM: not throttled
    (SW_POWER_CAP | GPU_IDLE | APP_CLOCKS | SYNC_BOOST, False, True),
    (SW_POWER_CAP | SW_THERMAL, True, True),
    (HW_SLOWDOWN, True, False), (HW_THERMAL, True, False), (HW_POWER_BRAKE, True, False), (SW_THERMAL, True, False),
    (GPU_IDLE, False, False), (0, False, False),
])
def test_nvml_reason_bits_flag_thermal_and_hardware_slowdowns_and_the_power_cap_apart(monkeypatch, reasons,
                                                                                       throttled, capped):
    calm = nvml_snapshot(monkeypatch, 0)
    snap = nvml_snapshot(monkeypatch, reasons)
    assert snap["source"] == "nvml" and snap["power_w"] == 699.0 and snap["reasons"] == hex(reasons)
    assert snap["power_capped"] is capped and "sw_power_cap" not in snap["slowdown"]
    assert telemetry.throttled(calm, snap) is throttled and telemetry.throttled(snap, calm) is throttled
    assert telemetry.power_capped(calm, snap) is capped
    assert telemetry.flags(calm, snap) == {"before": calm, "after": snap, "throttled": throttled,
                                           "power_capped": capped}


def test_the_slowdown_names_are_nvmls_bits():
    assert telemetry.slowdown(0xFF) == ["hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                                        "hw_power_brake_slowdown"]
    assert telemetry.POWER_CAP == (SW_POWER_CAP, "sw_power_cap")


def test_nvidia_smi_text_at_the_power_cap_is_not_throttled():
    capped = telemetry.parse_smi("1755, 1980, 61, 699.50, 0x0000000000000004\n")
    assert capped == {"sm_clock_mhz": 1755.0, "max_sm_clock_mhz": 1980.0, "temperature_c": 61.0, "power_w": 699.5,
                      "slowdown": [], "power_capped": True, "reasons": "0x4", "source": "nvidia-smi"}
    hot = telemetry.parse_smi("1410, 1980, 88, 650.0, 0x0000000000000064")  # power cap + both thermal bits
    assert hot["slowdown"] == ["sw_thermal_slowdown", "hw_thermal_slowdown"] and hot["power_capped"]
    assert telemetry.flags(capped, capped)["throttled"] is False and telemetry.flags(capped, capped)["power_capped"]
    assert telemetry.flags(capped, hot)["throttled"] is True
    unknown = telemetry.parse_smi("1980, 1980, 40, 100.0, [N/A]")  # a driver without the reasons field
    assert "slowdown" not in unknown and "power_capped" not in unknown
    assert telemetry.flags(unknown, {"error": "not supported"}) == {
        "before": unknown, "after": {"error": "not supported"}, "throttled": None, "power_capped": None}


def test_a_snapshot_that_listed_the_power_cap_among_slowdowns_reads_the_same_way():
    older = {"sm_clock_mhz": 1755, "slowdown": ["sw_power_cap"]}  # written before the cap was told apart
    assert telemetry.throttled(older, older) is False and telemetry.power_capped(older, older) is True


def test_timed_records_carry_both_flags(monkeypatch):
    spec, shape = ops.load_spec("matmul"), {"M": 64, "N": 64, "K": 64}
    snaps = iter([telemetry.parse_smi("1980, 1980, 40, 120.0, 0x0"), telemetry.parse_smi("1755, 1980, 61, 699.0, 0x4")])
    monkeypatch.setattr(telemetry, "snapshot", lambda: next(snaps))
    stats = {"median_ms": 0.5, "p10_ms": 0.4, "p90_ms": 0.6}
    monkeypatch.setattr(runner.timing, "time_all", lambda runs, device, graph=False: {n: dict(stats) for n in runs})
    monkeypatch.setattr(runner.timing, "launch_all", lambda runs, device, stats, on_phase: {})
    waiting = {"triton-matched": runner.base_record(spec, "triton-matched", "fp16", shape, 0, "cuda")}
    [record] = runner.timed_records(spec, shape, "fp16", "cuda", waiting, {"triton-matched": lambda: None},
                                    False, True, lambda b, p: None)
    assert record["telemetry"]["throttled"] is False and record["telemetry"]["power_capped"] is True
    assert record["telemetry"]["after"]["reasons"] == "0x4"


def test_report_warns_of_throttling_and_names_the_power_cap_apart(tmp_path):
    times, shape = [0.5] * 5, {"M": 4096, "N": 4096, "K": 4096}
    capped = {"throttled": False, "power_capped": True}
    cases = [case("triton-matched", shape, times, telemetry=capped), case("tilelang-matched", shape, times, telemetry=capped)]
    text = "\n".join(report.header(tmp_path / "run.jsonl", cases, [], True))
    assert "**Warning:**" not in text and "throttl" not in text.replace("Not counted as throttling", "")
    assert "> 2 case(s) ran at the GPU's software power cap (`telemetry.power_capped`" in text
    cases[1]["telemetry"] = {"throttled": True, "power_capped": True}
    text = "\n".join(report.header(tmp_path / "run.jsonl", cases, [], True))
    assert ("> **Warning:** 1 case(s) ran while the GPU reported a thermal or hardware slowdown "
            "(`telemetry.throttled`: clocks held down by heat or the hardware, so these times understate the GPU): "
            "matmul fp16 tilelang-matched M=4096,N=4096,K=4096.") in text
    assert "> 2 case(s) ran at the GPU's software power cap" in text
    calm = [case("triton-matched", shape, times, telemetry={"throttled": False, "power_capped": False}), case(
        "tilelang-matched", shape, times)]
    assert report.telemetry_lines(calm) == []


def test_compare_names_the_power_cap_apart_from_throttling():
    shape = {"M": 4096, "N": 4096, "K": 4096}
    base = case("triton-matched", shape, [1.0] * 10, telemetry={"throttled": False, "power_capped": False})
    new = case("triton-matched", shape, [1.0] * 10, telemetry={"throttled": False, "power_capped": True})
    why = compare.compare_case(base, new, 0.05)["why"]
    assert "at the GPU's power cap in new" in why and "throttled" not in why
    new["telemetry"]["throttled"] = True
    assert "; GPU throttled in new; at the GPU's power cap in new" in compare.compare_case(base, new, 0.05)["why"]
