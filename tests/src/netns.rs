//! Network namespaces made by a test, deleted when dropped (also when the
//! test fails), so tests send traffic only between hosts they created.

use std::process::Command;

/// A network namespace owned by the test.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `sw-<tag>-<pid>` with loopback up.
    pub fn new(tag: &str) -> Self {
        crate::require("ip", "iproute2");
        let name = format!("sw-{tag}-{}", std::process::id());
        // A leftover from a killed earlier run of the same PID is harmless
        // to remove; ignore the error when there is none.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        crate::run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec NAME program args...` as a Command to adjust.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) {
        crate::run(self.command("ip").args(args));
    }

    /// Reads a file inside the namespace (sysfs is per-namespace there).
    pub fn read(&self, path: &str) -> String {
        crate::stdout_of(self.command("cat").arg(path))
    }

    /// Joins `self` and `other` with a veth pair named `a` here and `b`
    /// there, addresses `addr_a` and `addr_b` (CIDR), both up.
    pub fn veth(&self, a: &str, addr_a: &str, other: &Netns, b: &str, addr_b: &str) {
        self.ip(&[
            "link",
            "add",
            a,
            "type",
            "veth",
            "peer",
            "name",
            b,
            "netns",
            &other.name,
        ]);
        self.ip(&["addr", "add", addr_a, "dev", a]);
        other.ip(&["addr", "add", addr_b, "dev", b]);
        self.ip(&["link", "set", a, "up"]);
        other.ip(&["link", "set", b, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace removes its veth ends and kills nothing
        // else; processes started in it are the test's ChildGuards.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
