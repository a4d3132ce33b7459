"""GPU clocks, temperature, power and throttle reasons from NVML (nvidia-ml-py), around each case.

A case is flagged throttled when the GPU reported a thermal or power slowdown before or
after its timing. Without NVML (no GPU, package missing), snapshots are None.
"""
import functools

# Throttle ("clocks event") reason bits that mean the clock was held down by heat or power,
# as opposed to idle or application-clock settings. Values from NVML's nvml.h.
SLOWDOWN_REASONS = {
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}


@functools.lru_cache(maxsize=None)
def handle():
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetHandleByIndex(current_index())
    except Exception:  # no NVML here: telemetry is simply absent
        return None


def current_index():
    import torch

    return torch.cuda.current_device() if torch.cuda.is_available() else 0


def snapshot():
    """SM clock (MHz), temperature (C), power (W) and slowdown reasons now, or None."""
    h = handle()
    if h is None:
        return None
    import pynvml

    try:
        reasons = pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)
        return {
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "slowdown": [name for bit, name in SLOWDOWN_REASONS.items() if reasons & bit],
        }
    except Exception as exc:  # a query this driver lacks: say so instead of failing the case
        return {"error": str(exc)[:200]}


def throttled(before, after):
    """True if either snapshot shows a thermal or power slowdown; None if unknown."""
    snaps = [s for s in (before, after) if s and "slowdown" in s]
    if not snaps:
        return None
    return any(s["slowdown"] for s in snaps)
