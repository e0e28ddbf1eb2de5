-- "What changed since I last looked": a reader's last look at a patient's course is
-- found from the audit trail by patient and actor.
CREATE INDEX audit_by_patient_actor ON audit_log (patient_id, actor, seq) WHERE patient_id IS NOT NULL;
