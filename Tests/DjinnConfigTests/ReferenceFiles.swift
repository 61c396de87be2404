/// Copies of the reference configs and documented examples, byte for byte.
enum ReferenceFiles {
    /// djinn-dist/worker.conf
    static let worker = """


pidfile "/var/run/djinn/worker.pid"

log info "/var/log/djinn/worker.log"

# Set to 0 to use the number of CPU cores available.
parallelism 0

# The driver we want to use when executing builds with the worker.
driver "qemu-x86_64"

# The duration after which builds should be killed. Valid time units are "s",
# "m", and "h".
timeout 30m

provider github
provider gitlab

crypto {
	# The block key is required for encrypting data. This must be either, 16, 24,
	# or 32 characters in length. This should be the same as what's in
	# server.cfg.
	block "1a2b3c4d5e6f7g8h"

	# Salt is used for generating hard to guess secrets, and for generating the
	# final key that is used for encrypting data. This should match what is in
	# server.cfg.
	salt "1a2b3c4d5e6f7g8h"
}

# Connection information for the PostgreSQL database.
database {
	addr "localhost:5432"
	name "djinn"

	username "djinn_worker"
	password "secret"

	# Optional configuration block if you want to connect via SSL to the
	# PostgreSQL database. Setting the below would be the equivalent of
	# putting sslmode=verify-full in the connection string to PostgresSQL.
#	ssl {
#		ca   "/var/lib/ssl/ca.crt"
#		cert "/var/lib/ssl/pgclient.crt"
#		key  "/var/lib/ssl/pgclient.key"
#	}
}

# Connection information for the Redis database.
redis {
	addr "localhost:6379"

	# Optional password parameter if Redis is password protected.
#	password "secret"
}

# Connection information for the SMTP server to use for delivering mail.
smtp {
	addr "smtp.example.com:587"

	# If connecting via TLS, then the path to the file that contains a set of
	# root certificate authorities.
	ca "/etc/ssl/cert.pem"

	# The email address to be used in the From field of mails that are sent.
	# Typically this is set to noreply@<host>.
	admin "noreply@djinn-ci.com"

	# The username and password to use if authentication is required when
	# connecting to the SMTP server.
	username "postmaster@example.com"
	password "secret"
}

# Where the artifact files should be stored upon collection. Limit here denotes
# the maximum number of bytes a single artifact can be. The worker will only
# collect the first n number of bytes for a single artifact, if an artifact
# is larger than the specified limit.
store artifacts {
	type  "file"
	path  "/var/lib/djinn/artifacts"
	limit 52428800
}

# Where the artifact files should be taken from during placement.
store objects {
	type "file"
	path "/var/lib/djinn/objects"
}

"""

    /// djinn-dist/consumer.conf
    static let consumer = """


pidfile "/var/run/djinn/consumer.pid"

log info "/var/log/djinn/consumer.log"

database {
	addr "localhost:5432"
	name "djinn"

	username "djinn_consumer"
	password "secret"
}

redis {
	addr "localhost:6379"
}

store images {
	type "file"
	path "/var/lib/djinn/images"
}

"""

    /// djinn-dist/scheduler.conf
    static let scheduler = """


pidfile "/var/run/djinn/scheduler.pid"

log info "/var/log/djinn/scheduler.log"

# Similar to the property in the server.cfg configuration, the drivers specifies
# drivers you want to support on the Djinn CI server for the builds submitted
# via cron. This should match what is in the server.cfg configuration file.
drivers [
	"qemu-x86_64",
]

crypto {
	# Salt is used for generating hard to guess secrets.
	salt "1a2b3c4d5e6f7g8h"
}

# Connection information for the PostgreSQL database.
database {
	addr "localhost:5432"
	name "djinn"

	username "djinn_scheduler"
	password "secret"

	# Optional configuration block if you want to connect via SSL to the
	# PostgreSQL database. Setting the below would be the equivalent of
	# putting sslmode=verify-full in the connection string to PostgresSQL.
#	ssl {
#		ca   "/var/lib/ssl/ca.crt"
#		cert "/var/lib/ssl/pgclient.crt"
#		key  "/var/lib/ssl/pgclient.key"
#	}
}

# Connection information for the Redis database.
redis {
	addr "localhost:6379"

	# Optional password parameter if Redis is password protected.
#	password "secret"
}

"""

    /// djinn-dist/driver.conf
    static let driver = """
# The driver.cfg file details global configuration for drivers for the worker
# to use during driver creation.

driver ssh {
	# Timeout is the amount of time an SSH connection should wait before giving
	# up. This should be any valid time duration string.
	timeout "60s"

	# User is the user that should be used to attempt the SSH connection.
	user "root"
}

driver docker {
	# Host is the specific host on which the Docker container engine is running.
	# This can either be a socket file, or a remote HTTP host.
	host "unix:///var/run/docker.sock"

	# Version is the version of the Docker API to use.
	version "1.40"
}

driver qemu {
	# Disks denotes the location on the filesystem from where the QCOW2 image
	# files should be loaded from. It is expected for the base images to exist
	# in the _base directory beneath the one given. Within the _base directory
	# should be another directory for each supported architecture that the QEMU
	# driver can emulate.
	disks  "/var/lib/djinn/images"

	# CPUs is the number of CPUs to use on each virtual machine that is booted
	# via the QEMU driver.
	cpus 1

	# Memory is the amount of memory in bytes to give to each virtual machine
	# that is booted via the QEMU driver.
	memory 2048
}

"""

    /// seed 000 (consumer docs): "Example Consumer Configuration", de-indented.
    static let seedConsumerExample = """
pidfile "/var/run/djinn/consumer.pid"

log info "/var/log/djinn/consumer.log"

database {
    addr "localhost:5432"
    name "djinn"

    username "djinn_curator"
    password "secret"
}

redis {
    addr "localhost:6379"
}

store images {
    type "file"
    path "/var/lib/djinn/images"
}
"""

    /// Every directive seed 001 (worker docs) lists.
    static let seedWorkerExample = """
parallelism 4
driver "docker"
crypto {
    block "0123456789abcdef0123456789abcdef"
    salt "a-salt"
}
database {
    addr "db.example.com:5432"
    name "djinn"
    username "djinn_worker"
    password "secret"
    tls {
        ca "/var/lib/ssl/ca.crt"
        cert "/var/lib/ssl/pgclient.crt"
        key "/var/lib/ssl/pgclient.key"
    }
}
redis {
    addr "redis.example.com:6379"
    password "secret"
}
smtp {
    addr "smtp.example.com:587"
    ca "/etc/ssl/cert.pem"
    admin "noreply@djinn-ci.com"
    username "postmaster@example.com"
    password "secret"
}
store artifacts {
    type "file"
    path "/var/lib/djinn/artifacts"
    limit 50MB
}
store objects {
    type "file"
    path "/var/lib/djinn/objects"
    limit 0
}
provider github {
    secret "hook-secret"
}
"""

    /// Every directive seed 002 (scheduler docs) lists.
    static let seedSchedulerExample = """
drivers ["docker", "qemu-x86_64"]
crypto {
    salt "1a2b3c4d5e6f7g8h"
}
database {
    addr "localhost:5432"
    name "djinn"
    username "djinn_scheduler"
    password "secret"
    tls {
        ca "/ca.crt"
        cert "/c.crt"
        key "/c.key"
    }
}
redis {
    addr "localhost:6379"
    password "secret"
}
"""
}
