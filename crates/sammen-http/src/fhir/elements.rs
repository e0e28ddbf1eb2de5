//! Which elements FHIR R4 (4.0.1) defines at the top of the resources Sammen takes in.
//!
//! A resource that Sammen is sent may carry any element FHIR defines: what Sammen does
//! not map is left out of what it stores (a client can read back what Sammen kept). An
//! element FHIR does not define is an error in the resource, and refused. So are
//! `modifierExtension` and `implicitRules`: they may change the meaning of the rest, and
//! Sammen cannot know how, so it must not store the resource as if they were absent.

use axum::http::StatusCode;
use serde_json::Value;

use super::FhirError;

const DOMAIN_RESOURCE: &[&str] =
    &["resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension"];

const PATIENT: &[&str] = &[
    "identifier",
    "active",
    "name",
    "telecom",
    "gender",
    "birthDate",
    "deceasedBoolean",
    "deceasedDateTime",
    "address",
    "maritalStatus",
    "multipleBirthBoolean",
    "multipleBirthInteger",
    "photo",
    "contact",
    "communication",
    "generalPractitioner",
    "managingOrganization",
    "link",
];

const CARE_PLAN: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "replaces",
    "partOf",
    "status",
    "intent",
    "category",
    "title",
    "description",
    "subject",
    "encounter",
    "period",
    "created",
    "author",
    "contributor",
    "careTeam",
    "addresses",
    "supportingInfo",
    "goal",
    "activity",
    "note",
];

const GOAL: &[&str] = &[
    "identifier",
    "lifecycleStatus",
    "achievementStatus",
    "category",
    "priority",
    "description",
    "subject",
    "startDate",
    "startCodeableConcept",
    "target",
    "statusDate",
    "statusReason",
    "expressedBy",
    "addresses",
    "note",
    "outcomeCode",
    "outcomeReference",
];

const OBSERVATION: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "status",
    "category",
    "code",
    "subject",
    "focus",
    "encounter",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveTiming",
    "effectiveInstant",
    "issued",
    "performer",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
    "dataAbsentReason",
    "interpretation",
    "note",
    "bodySite",
    "method",
    "specimen",
    "device",
    "referenceRange",
    "hasMember",
    "derivedFrom",
    "component",
];

const TASK: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "groupIdentifier",
    "partOf",
    "status",
    "statusReason",
    "businessStatus",
    "intent",
    "priority",
    "code",
    "description",
    "focus",
    "for",
    "encounter",
    "executionPeriod",
    "authoredOn",
    "lastModified",
    "requester",
    "performerType",
    "owner",
    "location",
    "reasonCode",
    "reasonReference",
    "insurance",
    "note",
    "relevantHistory",
    "restriction",
    "input",
    "output",
];

const CONDITION: &[&str] = &[
    "identifier",
    "clinicalStatus",
    "verificationStatus",
    "category",
    "severity",
    "code",
    "bodySite",
    "subject",
    "encounter",
    "onsetDateTime",
    "onsetAge",
    "onsetPeriod",
    "onsetRange",
    "onsetString",
    "abatementDateTime",
    "abatementAge",
    "abatementPeriod",
    "abatementRange",
    "abatementString",
    "recordedDate",
    "recorder",
    "asserter",
    "stage",
    "evidence",
    "note",
];

const QUESTIONNAIRE_RESPONSE: &[&str] = &[
    "identifier",
    "basedOn",
    "partOf",
    "questionnaire",
    "status",
    "subject",
    "encounter",
    "authored",
    "author",
    "source",
    "item",
];

const COMMUNICATION: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "partOf",
    "inResponseTo",
    "status",
    "statusReason",
    "category",
    "priority",
    "medium",
    "subject",
    "topic",
    "about",
    "encounter",
    "sent",
    "received",
    "recipient",
    "sender",
    "reasonCode",
    "reasonReference",
    "payload",
    "note",
];

const SERVICE_REQUEST: &[&str] = &[
    "identifier",
    "instantiatesCanonical",
    "instantiatesUri",
    "basedOn",
    "replaces",
    "requisition",
    "status",
    "intent",
    "category",
    "priority",
    "doNotPerform",
    "code",
    "orderDetail",
    "quantityQuantity",
    "quantityRatio",
    "quantityRange",
    "subject",
    "encounter",
    "occurrenceDateTime",
    "occurrencePeriod",
    "occurrenceTiming",
    "asNeededBoolean",
    "asNeededCodeableConcept",
    "authoredOn",
    "requester",
    "performerType",
    "performer",
    "locationCode",
    "locationReference",
    "reasonCode",
    "reasonReference",
    "insurance",
    "supportingInfo",
    "specimen",
    "bodySite",
    "note",
    "patientInstruction",
    "relevantHistory",
];

const EPISODE_OF_CARE: &[&str] = &[
    "identifier",
    "status",
    "statusHistory",
    "type",
    "diagnosis",
    "patient",
    "managingOrganization",
    "period",
    "referralRequest",
    "careManager",
    "team",
    "account",
];

const ENCOUNTER: &[&str] = &[
    "identifier",
    "status",
    "statusHistory",
    "class",
    "classHistory",
    "type",
    "serviceType",
    "priority",
    "subject",
    "episodeOfCare",
    "basedOn",
    "participant",
    "appointment",
    "period",
    "length",
    "reasonCode",
    "reasonReference",
    "diagnosis",
    "account",
    "hospitalization",
    "location",
    "serviceProvider",
    "partOf",
];

fn elements_of(resource_type: &str) -> &'static [&'static str] {
    match resource_type {
        "Patient" => PATIENT,
        "CarePlan" => CARE_PLAN,
        "Goal" => GOAL,
        "Observation" => OBSERVATION,
        "Task" => TASK,
        "QuestionnaireResponse" => QUESTIONNAIRE_RESPONSE,
        "Condition" => CONDITION,
        "Communication" => COMMUNICATION,
        "ServiceRequest" => SERVICE_REQUEST,
        "EpisodeOfCare" => EPISODE_OF_CARE,
        "Encounter" => ENCOUNTER,
        _ => &[],
    }
}

/// Checks that `v` is a `resource_type` whose top-level elements FHIR R4 defines, and
/// that nothing in it changes the meaning of the rest.
pub fn check(v: &Value, resource_type: &str) -> Result<(), FhirError> {
    let o = v.as_object().ok_or_else(|| FhirError::invalid(format!("The body must be one {resource_type}.")))?;
    match o.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        Some(_) => return Err(FhirError::invalid(format!("resourceType must be {resource_type} at this address."))),
        None => return Err(FhirError::invalid("resourceType is required.")),
    }
    let known = elements_of(resource_type);
    for key in o.keys() {
        // `_birthDate` and the like carry a primitive element's id and extensions.
        let element = key.strip_prefix('_').unwrap_or(key);
        if !DOMAIN_RESOURCE.contains(&element) && !known.contains(&element) {
            return Err(FhirError::new(
                StatusCode::BAD_REQUEST,
                "structure",
                format!("{resource_type}.{} is not an element of {resource_type} in FHIR R4.", printable(key)),
            ));
        }
    }
    for modifier in ["modifierExtension", "implicitRules"] {
        if o.contains_key(modifier) {
            return Err(FhirError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-supported",
                format!(
                    "{resource_type}.{modifier} may change what the resource means, and Sammen cannot honour it; \
                     leave it out."
                ),
            ));
        }
    }
    Ok(())
}

/// An element name as it may be quoted back: letters, digits and `_`, at most 40.
fn printable(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defined_elements_pass_and_others_are_refused() {
        let ok = json!({ "resourceType": "Patient", "gender": "female", "_birthDate": {}, "telecom": [] });
        assert!(check(&ok, "Patient").is_ok());
        let bad = json!({ "resourceType": "Patient", "favouriteColour": "blue" });
        let e = check(&bad, "Patient").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.text.contains("favouriteColour"), "{}", e.text);
        let wrong = json!({ "resourceType": "Goal" });
        assert!(check(&wrong, "Patient").unwrap_err().text.contains("resourceType"));
        let modifier = json!({ "resourceType": "Goal", "modifierExtension": [] });
        assert_eq!(check(&modifier, "Goal").unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
