public import TensorIO

/// Moonshot's id convention for historical tool calls: `functions.{name}:{idx}` with one counter over
/// the whole conversation (docs/chat-and-tokenizer.md, "Tool-call ids in the history"; vLLM `make_tool_call_id`).
public enum ToolCallIDs {
    /// `functions.{name}:{index}`.
    public static func make(name: String, index: Int) -> String { "functions.\(name):\(index)" }

    /// Rewrites every assistant tool-call id to `functions.NAME:IDX` (IDX counts all calls so far in the
    /// conversation) and each tool message's `tool_call_id` to the id its call got (the latest call with
    /// that original id). Other fields and the member order are kept.
    public static func normalize(_ messages: [JSONValue]) -> [JSONValue] {
        var counter = 0
        var renamed: [String: String] = [:]
        return messages.map { message in
            guard case .object(var members) = message else { return message }
            switch message["role"]?.stringValue {
            case "assistant":
                guard let index = members.firstIndex(where: { $0.key == "tool_calls" }),
                    case .array(let calls) = members[index].value
                else { return message }
                members[index].value = .array(
                    calls.map { call in
                        guard case .object(var fields) = call else { return call }
                        let name = call["function"]?["name"]?.stringValue ?? "unknown"
                        let id = make(name: name, index: counter)
                        counter += 1
                        if let old = call["id"]?.stringValue { renamed[old] = id }
                        if let k = fields.firstIndex(where: { $0.key == "id" }) {
                            fields[k].value = .string(id)
                        } else {
                            fields.insert((key: "id", value: .string(id)), at: 0)
                        }
                        return .object(fields)
                    })
            case "tool":
                if let k = members.firstIndex(where: { $0.key == "tool_call_id" }), let old = members[k].value.stringValue,
                    let id = renamed[old]
                {
                    members[k].value = .string(id)
                }
            default: break
            }
            return .object(members)
        }
    }
}
