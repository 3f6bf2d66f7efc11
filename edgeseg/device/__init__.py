"""The device layer: profiles, ADB transport, deploy, on-device benchmark, power."""
