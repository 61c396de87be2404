import CLibPQ

/// Owns one `PGresult`. libpq documents a result as read-only after creation and safe
/// to use from any thread, so rows are read on the caller's task without a thread hop.
final class PostgresResult: @unchecked Sendable {
    struct Column: Sendable {
        var name: String
        var type: PostgresDataType
    }

    private let pointer: OpaquePointer?
    let columns: [Column]
    let columnIndex: [String: Int]
    let rowCount: Int
    /// The command tag (`INSERT 0 3`, `SELECT 2`, `COMMIT` …).
    let commandTag: String
    let affectedRows: Int

    /// Takes ownership of `pointer` (freed with `PQclear`).
    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
        let columnCount = Int(PQnfields(pointer))
        var columns: [Column] = []
        columns.reserveCapacity(columnCount)
        var index: [String: Int] = [:]
        for column in 0..<columnCount {
            let name = PQfname(pointer, Int32(column)).map { String(cString: $0) } ?? "?column?"
            columns.append(Column(name: name, type: PostgresDataType(UInt32(PQftype(pointer, Int32(column))))))
            if index[name] == nil { index[name] = column }  // the first of duplicate names wins
        }
        self.columns = columns
        self.columnIndex = index
        self.rowCount = Int(PQntuples(pointer))
        self.commandTag = PQcmdStatus(pointer).map { String(cString: $0) } ?? ""
        self.affectedRows = PQcmdTuples(pointer).flatMap { Int(String(cString: $0)) } ?? 0
    }

    /// A result that did not come from the server (a statement answered locally).
    init(commandTag: String) {
        self.pointer = nil
        self.columns = []
        self.columnIndex = [:]
        self.rowCount = 0
        self.commandTag = commandTag
        self.affectedRows = 0
    }

    deinit {
        if let pointer { PQclear(pointer) }
    }

    func isNull(row: Int, column: Int) -> Bool {
        guard let pointer else { return true }
        return PQgetisnull(pointer, Int32(row), Int32(column)) != 0
    }

    /// The value's bytes in text format, valid while `self` lives (callers hold `self`).
    func withValueBytes<R>(row: Int, column: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let pointer, let value = PQgetvalue(pointer, Int32(row), Int32(column)) else {
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let length = Int(PQgetlength(pointer, Int32(row), Int32(column)))
        return try body(UnsafeRawBufferPointer(start: value, count: length))
    }
}

/// The rows a statement returned, with its command tag and affected-row count.
public struct PostgresRows: RandomAccessCollection, Sendable {
    let result: PostgresResult

    init(result: PostgresResult) { self.result = result }

    public var startIndex: Int { 0 }
    public var endIndex: Int { result.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(indices.contains(position), "row \(position) out of range 0..<\(count)")
        return PostgresRow(result: result, index: position)
    }

    /// Column names in order.
    public var columns: [String] { result.columns.map(\.name) }
    /// Column types in order.
    public var columnTypes: [PostgresDataType] { result.columns.map(\.type) }
    /// Rows inserted, updated, deleted, selected … as the command tag reports (0 if none).
    public var affectedRows: Int { result.affectedRows }
    /// The command tag, e.g. `UPDATE 3`.
    public var commandTag: String { result.commandTag }
}

/// One row of a result. Decode its values by column name or index:
/// `try row.decode(Int64.self, column: "id")`, `try row.decode(String?.self, at: 1)`.
public struct PostgresRow: Sendable {
    let result: PostgresResult
    /// The row's position in its result.
    public let index: Int

    public var columns: [String] { result.columns.map(\.name) }

    /// The cell at column `column` (0-based).
    public func cell(at column: Int) throws(PostgresError) -> PostgresCell {
        guard result.columns.indices.contains(column) else {
            throw PostgresError(
                kind: .decode,
                message: "column index \(column) out of range (the result has \(result.columns.count) columns)")
        }
        return PostgresCell(result: result, row: index, column: column)
    }

    /// The cell of the column named `name` (the first, if several share it).
    public func cell(named name: String) throws(PostgresError) -> PostgresCell {
        guard let column = result.columnIndex[name] else {
            throw PostgresError(
                kind: .decode,
                message: "no column \"\(name)\" in the result (columns: \(columns.joined(separator: ", ")))")
        }
        return PostgresCell(result: result, row: index, column: column)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws(PostgresError) -> T {
        try cell(at: column).decode(type)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        try cell(named: name).decode(type)
    }
}

/// One value of a row, with what is known about its column.
public struct PostgresCell: Sendable {
    let result: PostgresResult
    public let row: Int
    public let column: Int

    init(result: PostgresResult, row: Int, column: Int) {
        self.result = result
        self.row = row
        self.column = column
    }

    public var columnName: String { result.columns[column].name }
    public var type: PostgresDataType { result.columns[column].type }
    public var isNull: Bool { result.isNull(row: row, column: column) }

    /// The value's text-format bytes (empty for NULL). The buffer is valid only inside `body`.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try result.withValueBytes(row: row, column: column, body)
    }

    /// The value's text form (empty for NULL).
    public var text: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Decodes the value; NULL decodes only into an `Optional`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self) throws(PostgresError) -> T {
        if isNull { return try T.decodeNull(from: self) }
        return try T.decode(from: self)
    }

    /// The error for a column whose PostgreSQL type `swiftType` cannot be decoded from.
    public func typeMismatch(_ swiftType: Any.Type) -> PostgresError {
        PostgresError(
            kind: .decode,
            message: "cannot decode column \"\(columnName)\" of type \(type) as \(swiftType)")
    }

    /// The error for a value of the right type whose text does not parse as `swiftType`.
    public func invalidValue(_ swiftType: Any.Type, _ reason: String? = nil) -> PostgresError {
        var message = "cannot decode column \"\(columnName)\" of type \(type) as \(swiftType)"
        if let reason { message += ": \(reason)" }
        return PostgresError(kind: .decode, message: message)
    }
}
