"""The local backbone with many PEFT adapters: load, generate in mixed batches, stream, train."""
