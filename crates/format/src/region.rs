//! The `RG` rules: whether the Bedrock Region of the import offers Custom Model Import, and
//! the model's architecture, from the tables of [`crate::arch`].

use crate::arch::{Architecture, CMI_REGIONS};
use crate::{Finding, RuleId};

/// The findings about importing `architecture` (when known) in `region`.
pub fn check(region: &str, architecture: Option<&Architecture>, findings: &mut Vec<Finding>) {
    if !CMI_REGIONS.contains(&region) {
        findings.push(Finding::new(
            RuleId::RegionWithoutImport,
            "",
            format!(
                "Custom Model Import is not offered in {region}; it is in {}",
                CMI_REGIONS.join(", ")
            ),
        ));
        return;
    }
    let Some(architecture) = architecture else {
        return;
    };
    if let Some(regions) = architecture.regions {
        if !regions.contains(&region) {
            findings.push(Finding::new(
                RuleId::ArchitectureNotInRegion,
                "config.json",
                format!(
                    "{} models are imported in {} only, not in {region}",
                    architecture.aws_name,
                    regions.join(", ")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::architecture;

    fn codes(region: &str, model_type: &str) -> Vec<&'static str> {
        let mut findings = Vec::new();
        check(region, architecture(model_type), &mut findings);
        findings.iter().map(Finding::code).collect()
    }

    #[test]
    fn regions_and_architectures_as_the_tables_say() {
        assert!(codes("us-west-2", "llama").is_empty());
        assert_eq!(codes("eu-west-1", "llama"), ["RG001"]);
        assert!(codes("us-east-1", "gpt_oss").is_empty());
        assert_eq!(codes("us-west-2", "gpt_oss"), ["RG002"]);
        assert_eq!(codes("ap-south-1", "gpt_oss"), ["RG001"]);
        assert!(codes("us-east-2", "no_such_type").is_empty());
    }
}
