"""The demo checkpoint's tasks, expert policy and training pipeline (simulator only).

``oracle``: the task suite (open an app, go home, Wi-Fi/Bluetooth on/off, tap an icon, write a
note), checked from the simulator's state, and the expert that solves it from the phone's state
and widget tree, as a LangChain chat model the real ``PhoneAgent`` can drive.
``pipeline``: turning the agent's messages into model inputs with the embedded server's own
preprocessing, a local chat model over a loaded checkpoint, and episode evaluation.
"""
