public import TensorIO
public import Tokenizer

/// K2's tokenizer as Hugging Face `tokenizers` files, so that `AutoTokenizer` loads it without Moonshot's remote code
/// (docs/hf-export.md, "Tokenizer"): a byte-level BPE model over the same ranks (vocabulary in GPT-2's byte form, merges
/// recovered from the ranks, a whole piece that is a token taken as is — tiktoken's rule), K2's pre-tokenization
/// pattern as a `Split`, and the special slots as added tokens with their `special` flags.
public enum HFTokenizerFiles {
    /// K2's pre-tokenization pattern (docs/chat-and-tokenizer.md, "Pre-tokenization"), verbatim.
    public static let pattern =
        #"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// `tokenizer.json` for the ids of `input` (base ranks `.normal`, special slots `.control` / `.userDefined`;
    /// `.unused` ids are left out: no text encodes to them).
    public static func tokenizerJSON(_ input: TokenizerInput) -> JSONValue {
        var vocab: [(key: String, value: JSONValue)] = []
        var added: [JSONValue] = []
        for (id, kind) in input.kinds.enumerated() {
            switch kind {
            case .normal: vocab.append((ByteLevelBPE.gpt2String(input.tokens[id]), .number(String(id))))
            case .control, .userDefined:
                added.append(
                    .object([
                        ("id", .number(String(id))), ("content", .string(String(decoding: input.tokens[id], as: UTF8.self))),
                        ("single_word", .bool(false)), ("lstrip", .bool(false)), ("rstrip", .bool(false)),
                        ("normalized", .bool(false)), ("special", .bool(kind == .control)),
                    ]))
            case .unused: continue
            }
        }
        let merges = ByteLevelBPE.merges(input).map { JSONValue.string($0) }
        let byteLevel: JSONValue = .object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
            ("use_regex", .bool(false)),
        ])
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .null),
            (
                "pre_tokenizer",
                .object([
                    ("type", .string("Sequence")),
                    (
                        "pretokenizers",
                        .array([
                            .object([
                                ("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])),
                                ("behavior", .string("Isolated")), ("invert", .bool(false)),
                            ]),
                            byteLevel,
                        ])
                    ),
                ])
            ),
            ("post_processor", .null),
            ("decoder", byteLevel),
            (
                "model",
                .object([
                    ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                    ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                    ("ignore_merges", .bool(true)), ("vocab", .object(vocab)), ("merges", .array(merges)),
                ])
            ),
        ])
    }

    /// `tokenizer_config.json` for the `tokenizers` files: the source's config with `tokenizer_class`
    /// `PreTrainedTokenizerFast`, Moonshot's remote-code hooks (`auto_map`) dropped, and no BOS or EOS added on
    /// encode (K2's prompts carry their own markers). `added_tokens_decoder` and the special-token names stay, so
    /// ingot still reads the folder's tokenizer from `tiktoken.model` and this file.
    public static func tokenizerConfig(source: JSONValue?, chatTemplate: String?, maxLength: Int?) -> JSONValue {
        var members = source?.members ?? []
        members.removeAll { ["auto_map", "tokenizer_class", "add_bos_token", "add_eos_token", "chat_template"].contains($0.key) }
        members.append(("tokenizer_class", .string("PreTrainedTokenizerFast")))
        members.append(("add_bos_token", .bool(false)))
        members.append(("add_eos_token", .bool(false)))
        if members.first(where: { $0.key == "clean_up_tokenization_spaces" }) == nil {
            members.append(("clean_up_tokenization_spaces", .bool(false)))
        }
        if let maxLength, members.first(where: { $0.key == "model_max_length" }) == nil {
            members.append(("model_max_length", .number(String(maxLength))))
        }
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        return .object(members)
    }
}
