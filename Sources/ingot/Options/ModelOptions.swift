import ArgumentParser

/// The model argument shared by commands that read a checkpoint.
struct ModelOptions: ParsableArguments {
    @Argument(
        help:
            "A safetensors file, a model folder (sharded with model.safetensors.index.json), or a Hugging Face cache folder (models--org--name)."
    )
    var model: String
}
