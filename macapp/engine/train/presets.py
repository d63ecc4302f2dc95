"""The ways to train and the presets the window and `tailor` offer: one table each, read by both.

Plain data: the window reads it without loading MLX.
"""

METHODS = {  # name: (label, mlx-lm fine_tune_type, bits of the quantized base)
    "lora": ("LoRA: small adapter, fast", "lora", 0),
    "qlora": ("QLoRA: LoRA on a 4-bit copy, least memory", "lora", 4),
    "dora": ("DoRA: LoRA that learns direction and size", "dora", 0),
    "full": ("Full fine-tune: every weight, most memory", "full", 0),
}
PRESETS = {  # name: (label, settings over the model's base settings, for the demo / for other models)
    "quick": ("Quick", {"iters": 100}, {"iters": 200}),
    "balanced": ("Balanced", {"iters": 200}, {"iters": 600}),
    "thorough": ("Thorough", {"iters": 400, "early_stop_patience": 3},
                 {"iters": 1500, "early_stop_patience": 3, "lora_parameters": {"rank": 16, "dropout": 0.05,
                                                                                "scale": 20.0}}),
}
PRESET_PASSES = {"quick": 2, "balanced": 4, "thorough": 8}  # over a small dataset: how many times through it
PRESET_WORDS = {"quick": "a first try, to see that everything works",
                "balanced": "good for most data",
                "thorough": "longer; stops by itself when the validation loss stops improving"}
# Teaching by choosing: how the pairs are learnt from, and the largest learning rate for it (on the demo, 2e-4 undid
# what the model knew of writing within 40 steps; 5e-5 learnt the preference and kept it).
CHOOSING = {"dpo": "DPO: keeps close to the model it starts from",
            "orpo": "ORPO: also learns the better answers' words"}
CHOOSING_RATE = 5e-5
GENERIC = {"batch_size": 4, "learning_rate": 1e-5, "num_layers": -1, "mask_prompt": True, "max_seq_length": 2048,
           "steps_per_report": 10, "val_batches": 25, "lora_parameters": {"rank": 8, "dropout": 0.0, "scale": 20.0}}
