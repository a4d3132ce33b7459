"""GPU clocks, temperature, power and throttle reasons from NVML (nvidia-ml-py), around each case.

A case is flagged `throttled` when the GPU reported a thermal or hardware slowdown before or
after its timing, and `power_capped` apart when it was held at its software power limit
(`sw_power_cap`): a big GPU holds that through any large GEMM (clocks settle where the board's
power limit allows), which is the normal state of a loaded GPU, not a fault of the run.
Without nvidia-ml-py the driver's nvidia-smi is asked instead; with neither (no GPU),
snapshots are None.
"""
import functools
import shutil
import subprocess

from bench.core.env import current_bus_id, pci_bus_id  # noqa: F401  (pci_bus_id: tests)

# Throttle ("clocks event") reason bits that mean the clock was held down by heat or by the
# hardware (HW slowdown, an external power brake), as opposed to idle, application-clock
# settings or the software power cap. Values from NVML's nvml.h (nvmlClocksEventReason*).
SLOWDOWN_REASONS = {
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}
POWER_CAP = (0x4, "sw_power_cap")  # reported apart: `power_capped`, never `throttled`


@functools.lru_cache(maxsize=None)
def handle():
    """NVML's handle of the GPU torch computes on, found by its PCI bus id: NVML's and
    nvidia-smi's device indices ignore CUDA_VISIBLE_DEVICES and may order GPUs differently."""
    bus_id = current_bus_id()
    if bus_id is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
    except Exception:  # no NVML here: telemetry is simply absent
        return None


def snapshot():
    """SM clock (MHz), temperature (C), power (W) and slowdown reasons now, or None.
    From NVML when nvidia-ml-py is installed, else from the driver's nvidia-smi."""
    h = handle()
    if h is None:
        return smi_snapshot()
    import pynvml

    try:
        reasons = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
        return {
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            **reason_fields(reasons),
            "source": "nvml",
        }
    except Exception as exc:  # a query this driver lacks: say so instead of failing the case
        return {"error": str(exc)[:200]}


def slowdown(reasons):
    """The names of the thermal and hardware slowdown bits set in a reasons bit mask."""
    return [name for bit, name in SLOWDOWN_REASONS.items() if reasons & bit]


def reason_fields(reasons):
    """A snapshot's fields from the reasons bit mask: the slowdowns, the power cap apart, and
    the raw mask (every bit, idle and application clocks included) as NVML gave it."""
    return {"slowdown": slowdown(reasons), "power_capped": bool(reasons & POWER_CAP[0]), "reasons": hex(reasons)}


# The same readings through nvidia-smi; drivers name the reasons field one of two ways.
SMI_QUERY = "clocks.sm,clocks.max.sm,temperature.gpu,power.draw,{}"
SMI_REASONS = ("clocks_event_reasons.active", "clocks_throttle_reasons.active")


def smi_snapshot():
    exe, bus_id = shutil.which("nvidia-smi"), current_bus_id()
    if exe is None or bus_id is None:
        return None
    for field in SMI_REASONS:
        try:
            out = subprocess.run([exe, f"--query-gpu={SMI_QUERY.format(field)}", "--format=csv,noheader,nounits",
                                  f"--id={bus_id}"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode == 0 and out.stdout.strip():
            return parse_smi(out.stdout)
    return None


def parse_smi(text):
    """One CSV line of the query above -> a snapshot; '[N/A]' readings become None."""
    clock, max_clock, temperature, power, reasons = (f.strip() for f in text.strip().splitlines()[0].split(","))

    def number(value):
        try:
            return float(value)
        except ValueError:
            return None
    code = int(reasons, 16) if reasons.startswith("0x") else None
    return {"sm_clock_mhz": number(clock), "max_sm_clock_mhz": number(max_clock),
            "temperature_c": number(temperature), "power_w": number(power),
            **(reason_fields(code) if code is not None else {}), "source": "nvidia-smi"}


def known(before, after):
    """The snapshots that hold the reasons (an error or an unparsed field holds none)."""
    return [s for s in (before, after) if s and "slowdown" in s]


def throttled(before, after):
    """True if either snapshot shows a thermal or hardware slowdown; None if unknown. The power
    cap is not one (see power_capped); a snapshot written before it was told apart listed
    `sw_power_cap` among its slowdowns, and is read the same way."""
    snaps = known(before, after)
    if not snaps:
        return None
    return any(name in SLOWDOWN_REASONS.values() for s in snaps for name in s["slowdown"])


def power_capped(before, after):
    """True if either snapshot shows the software power cap; None if unknown."""
    snaps = known(before, after)
    if not snaps:
        return None
    return any(s.get("power_capped") or POWER_CAP[1] in s["slowdown"] for s in snaps)


def flags(before, after):
    """A timed record's `telemetry`: both snapshots, `throttled` and, apart, `power_capped`."""
    return {"before": before, "after": after, "throttled": throttled(before, after),
            "power_capped": power_capped(before, after)}
