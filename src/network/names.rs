//! Names derived from VM ids (spec §8.1, §17.4): TAP devices and nft chains.

pub const TAP_NAME_PREFIX: &str = "vnet-";
pub const MAX_TAP_NAME_LENGTH: usize = 15;
pub const VM_CHAIN_PREFIX: &str = "vm_";
pub const MAX_CHAIN_NAME_LENGTH: usize = 31;

fn alnum(vm_id: &str) -> impl Iterator<Item = char> + '_ {
    vm_id.chars().filter(char::is_ascii_alphanumeric)
}

/// `vnet-` + the first 10 ASCII alphanumerics of the id, case kept.
pub fn tap_name(vm_id: &str) -> String {
    let budget = MAX_TAP_NAME_LENGTH - TAP_NAME_PREFIX.len();
    format!("{TAP_NAME_PREFIX}{}", alnum(vm_id).take(budget).collect::<String>())
}

/// `generateVMChainName`: `vm_` + the first 8 alphanumerics, lower-cased.
pub fn vm_chain_name(vm_id: &str) -> String {
    let name = format!("{VM_CHAIN_PREFIX}{}", alnum(vm_id).take(8).collect::<String>().to_lowercase());
    name.chars().take(MAX_CHAIN_NAME_LENGTH).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_41_42() {
        assert_eq!(vm_chain_name("abc-123-def-456"), "vm_abc123de");
        assert_eq!(vm_chain_name("UPPER-case-ID"), "vm_uppercas");
        assert_eq!(vm_chain_name("550e8400-e29b-41d4-a716-446655440000"), "vm_550e8400");
        assert_eq!(vm_chain_name(""), "vm_");
        assert_eq!(tap_name("550e8400-e29b-41d4-a716-446655440000"), "vnet-550e8400e2");
        assert_eq!(tap_name("ÄbC-1"), "vnet-bC1");
    }
}
