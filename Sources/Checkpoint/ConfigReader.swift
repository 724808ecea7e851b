public import TensorIO

/// Typed field access on a parsed JSON object, with errors that name the file and field.
struct ConfigReader {
    let json: JSONValue
    let file: String
    let prefix: String

    init(json: JSONValue, file: String, prefix: String = "") {
        self.json = json
        self.file = file
        self.prefix = prefix
    }

    func present(_ key: String) -> Bool {
        if let v = json[key], v != .null { return true }
        return false
    }

    private func value(_ key: String) throws(CheckpointError) -> JSONValue {
        guard let v = json[key], v != .null else { throw .missingField(file: file, field: prefix + key) }
        return v
    }

    func int(_ key: String, min: Int = 0) throws(CheckpointError) -> Int {
        let v = try value(key)
        guard let i = v.intValue else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "an integer")
        }
        guard i >= min else {
            throw .invalidField(file: file, field: prefix + key, found: String(i), expected: "at least \(min)")
        }
        return i
    }

    func int(_ key: String, default fallback: Int, min: Int = 0) throws(CheckpointError) -> Int {
        present(key) ? try int(key, min: min) : fallback
    }

    func optionalInt(_ key: String, min: Int = 0) throws(CheckpointError) -> Int? {
        present(key) ? try int(key, min: min) : nil
    }

    func double(_ key: String) throws(CheckpointError) -> Double {
        let v = try value(key)
        guard let d = v.doubleValue, d.isFinite else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "a number")
        }
        return d
    }

    func double(_ key: String, default fallback: Double) throws(CheckpointError) -> Double {
        present(key) ? try double(key) : fallback
    }

    func bool(_ key: String, default fallback: Bool) throws(CheckpointError) -> Bool {
        guard present(key) else { return fallback }
        let v = try value(key)
        guard let b = v.boolValue else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "true or false")
        }
        return b
    }

    func string(_ key: String) throws(CheckpointError) -> String {
        let v = try value(key)
        guard let s = v.stringValue else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "a string")
        }
        return s
    }

    func string(_ key: String, default fallback: String) throws(CheckpointError) -> String {
        present(key) ? try string(key) : fallback
    }

    func optionalString(_ key: String) throws(CheckpointError) -> String? {
        present(key) ? try string(key) : nil
    }

    func strings(_ key: String, default fallback: [String] = []) throws(CheckpointError) -> [String] {
        guard present(key) else { return fallback }
        let v = try value(key)
        if let s = v.stringValue { return [s] }
        guard let elements = v.elements else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "a list of strings")
        }
        var out: [String] = []
        for e in elements {
            guard let s = e.stringValue else {
                throw .invalidField(file: file, field: prefix + key, found: e.compactText, expected: "a string")
            }
            out.append(s)
        }
        return out
    }

    /// One integer or a list of integers (eos_token_id may be either).
    func ints(_ key: String) throws(CheckpointError) -> [Int] {
        guard present(key) else { return [] }
        let v = try value(key)
        if let i = v.intValue { return [i] }
        guard let elements = v.elements else {
            throw .invalidField(file: file, field: prefix + key, found: v.compactText, expected: "an integer or a list")
        }
        var out: [Int] = []
        for e in elements {
            guard let i = e.intValue else {
                throw .invalidField(file: file, field: prefix + key, found: e.compactText, expected: "an integer")
            }
            out.append(i)
        }
        return out
    }

    func object(_ key: String) throws(CheckpointError) -> ConfigReader? {
        guard present(key) else { return nil }
        let v = try value(key)
        guard v.members != nil else {
            throw .invalidField(file: file, field: prefix + key, found: v.kindName, expected: "an object")
        }
        return ConfigReader(json: v, file: file, prefix: prefix + key + ".")
    }
}
