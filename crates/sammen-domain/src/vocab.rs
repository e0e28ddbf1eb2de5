//! The closed vocabularies of the domain (sector, legal domain, profession, data
//! category, purpose of use). Each is written as snake_case text in storage, JSON and
//! the CLI, and parsed with an error that lists the accepted words.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(DomainError::UnknownValue {
                        what: $what,
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// Where in the Danish system an organisation works.
    Sector, "sector" {
        GeneralPractice => "general_practice",
        PrivatePractice => "private_practice",
        Hospital => "hospital",
        HospitalPsychiatry => "hospital_psychiatry",
        MunicipalHealth => "municipal_health",
        MunicipalEmployment => "municipal_employment",
        MunicipalSocial => "municipal_social",
    }
);

vocabulary!(
    /// The body of law an organisation works under; it decides what may flow where.
    LegalDomain, "legal domain" {
        Health => "health",
        Social => "social",
        Employment => "employment",
    }
);

impl Default for LegalDomain {
    /// Records written before origins were kept were all written in health.
    fn default() -> Self {
        LegalDomain::Health
    }
}

impl Sector {
    /// The legal domain a sector works under. Municipal health (rehabilitation) is
    /// health law; the jobcentre is employment law; social psychiatry is social law.
    pub fn legal_domain(&self) -> LegalDomain {
        match self {
            Sector::MunicipalEmployment => LegalDomain::Employment,
            Sector::MunicipalSocial => LegalDomain::Social,
            _ => LegalDomain::Health,
        }
    }
}

vocabulary!(
    /// What a professional is trained as. A key worker is a role, not a profession.
    Profession, "profession" {
        GeneralPractitioner => "general_practitioner",
        PracticeNurse => "practice_nurse",
        Chiropractor => "chiropractor",
        Physiotherapist => "physiotherapist",
        Psychologist => "psychologist",
        HospitalDoctor => "hospital_doctor",
        HospitalNurse => "hospital_nurse",
        Psychiatrist => "psychiatrist",
        PsychiatricNurse => "psychiatric_nurse",
        MunicipalPhysiotherapist => "municipal_physiotherapist",
        OccupationalTherapist => "occupational_therapist",
        MunicipalPsychologist => "municipal_psychologist",
        JobcentreSocialWorker => "jobcentre_social_worker",
        SocialPsychiatryWorker => "social_psychiatry_worker",
        Coordinator => "coordinator",
    }
);

vocabulary!(
    /// What a piece of patient data is about. Access rules are written per category.
    DataCategory, "data category" {
        Identity => "identity",
        Plan => "plan",
        ClinicalFindings => "clinical_findings",
        Diagnoses => "diagnoses",
        Medication => "medication",
        MentalHealth => "mental_health",
        SocialEmployment => "social_employment",
        PatientStory => "patient_story",
        Messages => "messages",
    }
);

impl DataCategory {
    /// The category in plain English words, as a sentence says it ("mental health").
    pub fn as_words(&self) -> &'static str {
        match self {
            DataCategory::Identity => "identity",
            DataCategory::Plan => "the plan",
            DataCategory::ClinicalFindings => "clinical findings",
            DataCategory::Diagnoses => "diagnoses",
            DataCategory::Medication => "medication",
            DataCategory::MentalHealth => "mental health",
            DataCategory::SocialEmployment => "social and employment matters",
            DataCategory::PatientStory => "the patient's story",
            DataCategory::Messages => "messages",
        }
    }
}

vocabulary!(
    /// Why someone looks at or changes patient data; recorded on every audit entry.
    /// `on_behalf`: a proxy the patient named, reading for the patient.
    Purpose, "purpose of use" {
        Treatment => "treatment",
        BreakGlass => "break_glass",
        OwnRecord => "own_record",
        OnBehalf => "on_behalf",
        Operations => "operations",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in Sector::ALL {
            assert_eq!(s.as_str().parse::<Sector>().unwrap(), *s);
        }
        for c in DataCategory::ALL {
            assert_eq!(c.as_str().parse::<DataCategory>().unwrap(), *c);
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{}\"", c.as_str()));
        }
    }

    #[test]
    fn unknown_word_lists_the_choices() {
        let err = "hospitl".parse::<Sector>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("general_practice") && text.contains("sector"), "{text}");
        // Input is never echoed: it might be anything, even a CPR number.
        assert!(!text.contains("hospitl"), "{text}");
    }

    #[test]
    fn legal_domains() {
        assert_eq!(Sector::MunicipalEmployment.legal_domain(), LegalDomain::Employment);
        assert_eq!(Sector::MunicipalSocial.legal_domain(), LegalDomain::Social);
        assert_eq!(Sector::MunicipalHealth.legal_domain(), LegalDomain::Health);
        assert_eq!(Sector::HospitalPsychiatry.legal_domain(), LegalDomain::Health);
    }
}
