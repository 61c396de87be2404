// Settings that hold secrets describe and reflect themselves with the secrets replaced,
// so `print`, string interpolation, `dump` and log lines built from them never leak a
// password. Settings that contain them (WorkerSettings …) inherit this, because the
// default description of a struct prints its fields through these.

private func redacted(_ secret: String) -> String {
    secret.isEmpty ? "\"\"" : "<redacted>"
}

private func quoted(_ text: String) -> String { "\"\(text)\"" }

extension DatabaseSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "DatabaseSettings(addr: \(quoted(addr)), name: \(quoted(name)), username: \(quoted(username)), password: \(redacted(password)), tls: \(tls.map { String(describing: $0) } ?? "nil"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["addr": addr, "name": name, "username": username, "password": redacted(password), "tls": tls as Any])
    }
}

extension RedisSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "RedisSettings(addr: \(quoted(addr)), password: \(redacted(password)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["addr": addr, "password": redacted(password)]) }
}

extension SMTPSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "SMTPSettings(addr: \(quoted(addr)), ca: \(quoted(ca)), admin: \(quoted(admin)), username: \(quoted(username)), password: \(redacted(password)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["addr": addr, "ca": ca, "admin": admin, "username": username, "password": redacted(password)])
    }
}

extension CryptoSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "CryptoSettings(block: \(redacted(block)), salt: \(redacted(salt)), hash: \(redacted(hash)), auth: \(redacted(auth)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["block": redacted(block), "salt": redacted(salt), "hash": redacted(hash), "auth": redacted(auth)])
    }
}

extension ProviderSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "ProviderSettings(name: \(quoted(name)), secret: \(redacted(secret)), endpoint: \(quoted(endpoint)), oauth2Endpoint: \(quoted(oauth2Endpoint)), clientID: \(quoted(clientID)), clientSecret: \(redacted(clientSecret)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [
            "name": name, "secret": redacted(secret), "endpoint": endpoint, "oauth2Endpoint": oauth2Endpoint,
            "clientID": clientID, "clientSecret": redacted(clientSecret),
        ])
    }
}

extension SSHDriverSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "SSHDriverSettings(addr: \(quoted(addr)), user: \(quoted(user)), password: \(redacted(password)), key: \(quoted(key)), timeout: \(GoDuration.format(timeout)), knownHosts: \(quoted(knownHosts)))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: [
            "addr": addr, "user": user, "password": redacted(password), "key": key, "timeout": timeout, "knownHosts": knownHosts,
        ])
    }
}
